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

    private final Mpi mpi;
    private final int rank;
    private final int size;
    private boolean closed;

    private MpiCommunicator(Mpi mpi, int rank, int size) {
        this.mpi = mpi;
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
        Mpi mpi = new Mpi();
        try (Arena call = Arena.ofConfined()) {
            // Open MPI must not take the JVM's signal handlers (the JVM turns some SIGSEGVs into exceptions)
            int unused = (int) mpi.setenv.invokeExact(call.allocateFrom("OMPI_MCA_opal_signal"), call.allocateFrom(""),
                    0);
            MemorySegment provided = call.allocate(ValueLayout.JAVA_INT);
            Mpi.check("MPI_Init_thread", (int) mpi.initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    Mpi.THREAD_SERIALIZED, provided));
            if (provided.get(ValueLayout.JAVA_INT, 0) < Mpi.THREAD_SERIALIZED) {
                throw new KilnException("mpi: the library gives thread level " + provided.get(ValueLayout.JAVA_INT, 0)
                        + ", Kiln needs MPI_THREAD_SERIALIZED (" + Mpi.THREAD_SERIALIZED + ")");
            }
            MemorySegment value = call.allocate(ValueLayout.JAVA_INT);
            Mpi.check("MPI_Comm_rank", (int) mpi.commRank.invokeExact(mpi.commWorld, value));
            int rank = value.get(ValueLayout.JAVA_INT, 0);
            Mpi.check("MPI_Comm_size", (int) mpi.commSize.invokeExact(mpi.commWorld, value));
            joined = new MpiCommunicator(mpi, rank, value.get(ValueLayout.JAVA_INT, 0));
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
        MemorySegment values = MemorySegment.ofArray(data).asSlice(4L * offset, 4L * length);
        call("MPI_Allreduce", () -> (int) mpi.allReduceHeap.invokeExact(Mpi.IN_PLACE, values, length, mpi.floatType,
                mpi.sum, mpi.commWorld));
    }

    @Override
    public synchronized void allReduceSum(double[] data) {
        if (data.length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data);
        call("MPI_Allreduce", () -> (int) mpi.allReduceHeap.invokeExact(Mpi.IN_PLACE, values, data.length,
                mpi.doubleType, mpi.sum, mpi.commWorld));
    }

    @Override
    public synchronized void broadcast(float[] data, int offset, int length, int root) {
        if (length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data).asSlice(4L * offset, 4L * length);
        call("MPI_Bcast", () -> (int) mpi.broadcastHeap.invokeExact(values, length, mpi.floatType, root,
                mpi.commWorld));
    }

    @Override
    public synchronized void broadcast(byte[] data, int root) {
        if (data.length == 0) {
            return;
        }
        MemorySegment values = MemorySegment.ofArray(data);
        call("MPI_Bcast", () -> (int) mpi.broadcastHeap.invokeExact(values, data.length, mpi.byteType, root,
                mpi.commWorld));
    }

    @Override
    public synchronized void barrier() {
        call("MPI_Barrier", () -> (int) mpi.barrier.invokeExact(mpi.commWorld));
    }

    @Override
    public void abort(int code) {
        call("MPI_Abort", () -> (int) mpi.abort.invokeExact(mpi.commWorld, code));
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        call("MPI_Finalize", () -> (int) mpi.finalizeCall.invokeExact());
    }

    /** A native call that returns MPI's error code. */
    private interface NativeCall {
        int run() throws Throwable;
    }

    private void call(String name, NativeCall call) {
        if (closed && !name.equals("MPI_Finalize")) {
            throw new KilnException("mpi: " + name + " after the communicator was closed");
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
