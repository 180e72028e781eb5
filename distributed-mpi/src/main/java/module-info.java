/** The {@code mpi} communicator: Open MPI's {@code libmpi.so.40} through the foreign-function API. */
module dev.kiln.distributed.mpi {
    requires dev.kiln.api;

    provides dev.kiln.api.distributed.CommunicatorProvider with dev.kiln.distributed.mpi.MpiCommunicatorProvider;
}
