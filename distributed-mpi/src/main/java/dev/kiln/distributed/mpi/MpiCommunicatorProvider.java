package dev.kiln.distributed.mpi;

import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.distributed.CommunicatorProvider;
import dev.kiln.api.plugin.Availability;
import dev.kiln.api.plugin.Options;

/** Provider id {@code mpi}: available in a process that {@code mpirun} started, where {@code libmpi} loads. */
public final class MpiCommunicatorProvider implements CommunicatorProvider {
    public static final String ID = "mpi";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Availability probe() {
        if (!Mpi.LIBRARY.isPresent()) {
            return Availability.no("Open MPI's " + Mpi.LIBRARY_NAME + " is not installed (apt-get install openmpi-bin)");
        }
        if (System.getenv("OMPI_COMM_WORLD_SIZE") == null) {
            return Availability.no("this process was not started by mpirun (no OMPI_COMM_WORLD_SIZE)");
        }
        return Availability.yes();
    }

    @Override
    public Communicator create(Options options) {
        options.requireOnly(ID, java.util.Set.of());
        return MpiCommunicator.join();
    }
}
