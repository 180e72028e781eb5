package dev.kiln.api.distributed;

/**
 * How the ranks of a data-parallel run exchange data: every rank calls the same collectives in the same order with
 * the same sizes (the MPI model). Results are the same on every rank, and for a given size and number of ranks
 * they do not depend on timing. One process alone is {@link #single()}.
 */
public interface Communicator extends AutoCloseable {
    /** This process's rank, 0 … size − 1; rank 0 writes the run's files. */
    int rank();

    /** How many ranks take part. */
    int size();

    /** {@code data[offset, offset + length)} becomes its element-wise sum over all ranks, on every rank. */
    void allReduceSum(float[] data, int offset, int length);

    /** The same for doubles (losses, counts, norms). */
    void allReduceSum(double[] data);

    /** {@code data[offset, offset + length)} on every rank becomes rank {@code root}'s. */
    void broadcast(float[] data, int offset, int length, int root);

    /** Bytes from rank {@code root} to every rank (a config, a checksum, a file). */
    void broadcast(byte[] data, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /** Ends every rank of the job at once, with this exit code (a rank that cannot go on must not leave the others waiting). */
    void abort(int code);

    /** The element-wise mean over all ranks. */
    default void allReduceAverage(float[] data, int offset, int length) {
        allReduceSum(data, offset, length);
        if (size() > 1) {
            float inverse = 1f / size();
            for (int i = offset; i < offset + length; i++) {
                data[i] *= inverse;
            }
        }
    }

    /** The sum of one value over all ranks. */
    default double sum(double value) {
        double[] one = {value};
        allReduceSum(one);
        return one[0];
    }

    @Override
    void close();

    /** One process: rank 0 of 1, every collective a no-op. */
    static Communicator single() {
        return SingleProcess.INSTANCE;
    }
}
