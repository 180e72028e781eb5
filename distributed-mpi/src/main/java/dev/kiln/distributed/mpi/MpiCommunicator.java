package dev.kiln.distributed.mpi;

import dev.kiln.api.KilnException;
import dev.kiln.api.distributed.Communicator;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A rank of an Open MPI job. Collectives work on the caller's arrays in place, passed to MPI by critical downcalls
 * (no copy, no allocation per call). The process joins with
 * {@code MPI_Init_thread(MPI_THREAD_SERIALIZED)}, so any one thread at a time may communicate (a communication
 * thread beside the backward pass), and leaves with {@code MPI_Finalize} when closed.
 */
final class MpiCommunicator implements Communicator {
    private static MpiCommunicator joined;

    private final int rank;
    private final int size;
    private boolean closed;

    private MpiCommunicator(int rank, int size) {
        this.rank = rank;
        this.size = size;
    }

    /** Joins the job (once per process: MPI cannot be initialised twice). */
    static synchronized MpiCommunicator join() {
        if (joined != null && !joined.closed) {
            return joined;
        }
        if (joined != null) {
            throw new KilnException("mpi: this process already left its job (MPI cannot be initialised twice)");
        }
        Mpi.requireLibrary();
        try (Arena call = Arena.ofConfined()) {
            // Open MPI must not take the JVM's signal handlers (the JVM turns some SIGSEGVs into exceptions)
            int unused = (int) Mpi.Bound.SETENV.invokeExact(call.allocateFrom("OMPI_MCA_opal_signal"),
                    call.allocateFrom(""), 0);
            MemorySegment provided = call.allocate(ValueLayout.JAVA_INT);
            Mpi.check("MPI_Init_thread", (int) Mpi.Bound.INIT_THREAD.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    Mpi.THREAD_SERIALIZED, provided));
            if (provided.get(ValueLayout.JAVA_INT, 0) < Mpi.THREAD_SERIALIZED) {
                throw new KilnException("mpi: the library gives thread level " + provided.get(ValueLayout.JAVA_INT, 0)
                        + ", Kiln needs MPI_THREAD_SERIALIZED (" + Mpi.THREAD_SERIALIZED + ")");
            }
            MemorySegment value = call.allocate(ValueLayout.JAVA_INT);
            Mpi.check("MPI_Comm_rank", (int) Mpi.Bound.COMM_RANK.invokeExact(Mpi.Bound.COMM_WORLD, value));
            int rank = value.get(ValueLayout.JAVA_INT, 0);
            Mpi.check("MPI_Comm_size", (int) Mpi.Bound.COMM_SIZE.invokeExact(Mpi.Bound.COMM_WORLD, value));
            joined = new MpiCommunicator(rank, value.get(ValueLayout.JAVA_INT, 0));
            return joined;
        } catch (KilnException e) {
            throw e;
        } catch (Throwable t) {
            throw new KilnException("mpi: cannot join the job: " + t, t);
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public synchronized void allReduceSum(float[] data, int offset, int length) {
        if (length == 0) {
            return;
        }
        requireOpen("MPI_Allreduce");
        MemorySegment values = MemorySegment.ofArray(data).asSlice(4L * offset, 4L * length);
        int code;
        try {                                              // called directly: this is the hot path
            code = (int) Mpi.Bound.ALLREDUCE.invokeExact(Mpi.IN_PLACE, values, length, Mpi.Bound.FLOAT,
                    Mpi.Bound.SUM, Mpi.Bound.COMM_WORLD);
        } catch (Throwable t) {
            throw new KilnException("mpi: MPI_Allreduce: " + t, t);
        }
        Mpi.check("MPI_Allreduce", code);
    }

    @Override
    public synchronized void allReduceSum(double[] data) {
        if (data.length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data);
        call("MPI_Allreduce", () -> (int) Mpi.Bound.ALLREDUCE.invokeExact(Mpi.IN_PLACE, values, data.length,
                Mpi.Bound.DOUBLE, Mpi.Bound.SUM, Mpi.Bound.COMM_WORLD));
    }

    @Override
    public synchronized void broadcast(float[] data, int offset, int length, int root) {
        if (length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data).asSlice(4L * offset, 4L * length);
        call("MPI_Bcast", () -> (int) Mpi.Bound.BCAST.invokeExact(values, length, Mpi.Bound.FLOAT, root,
                Mpi.Bound.COMM_WORLD));
    }

    @Override
    public synchronized void broadcast(byte[] data, int root) {
        if (data.length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data);
        call("MPI_Bcast", () -> (int) Mpi.Bound.BCAST.invokeExact(values, data.length, Mpi.Bound.BYTE, root,
                Mpi.Bound.COMM_WORLD));
    }

    @Override
    public synchronized void barrier() {
        call("MPI_Barrier", () -> (int) Mpi.Bound.BARRIER.invokeExact(Mpi.Bound.COMM_WORLD));
    }

    @Override
    public void abort(int code) {
        call("MPI_Abort", () -> (int) Mpi.Bound.ABORT.invokeExact(Mpi.Bound.COMM_WORLD, code));
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        call("MPI_Finalize", () -> (int) Mpi.Bound.FINALIZE.invokeExact());
    }

    /** A native call that returns MPI's error code. */
    private interface NativeCall {
        int run() throws Throwable;
    }

    private void requireOpen(String name) {
        if (closed) {
            throw new KilnException("mpi: " + name + " after the communicator was closed");
        }
    }

    private void call(String name, NativeCall call) {
        if (!name.equals("MPI_Finalize")) {
            requireOpen(name);
        }
        int code;
        try {
            code = call.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new KilnException("mpi: " + name + ": " + t, t);
        }
        Mpi.check(name, code);
    }
}
