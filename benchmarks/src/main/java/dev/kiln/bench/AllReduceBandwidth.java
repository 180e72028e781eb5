package dev.kiln.bench;

import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.distributed.CommunicatorProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.distributed.mpi.MpiCommunicatorProvider;
import java.util.Locale;

/**
 * Kiln's communicator against MPI_Allreduce from C ({@code scripts/allreduce.c}): the same sizes (1 KB … 64 MB of
 * floats) and repeats, a warm-up that lets the JIT finish, an in-place sum, timed on rank 0 as the
 * best of five blocks of repeats. Run both with {@code scripts/allreduce.sh}.
 */
public final class AllReduceBandwidth {
    /** Calls before the first timing, enough for the JIT's last tier (a 2 000-call warm-up timed interpreted code). */
    static final int WARM_UP_CALLS = 30_000;
    /** Timed blocks of repeats per size, as in the C program. */
    static final int BLOCKS = 5;

    private AllReduceBandwidth() {
    }

    public static void main(String[] args) {
        CommunicatorProvider provider = new MpiCommunicatorProvider();
        if (!provider.probe().available()) {
            throw new IllegalStateException("mpi: " + provider.probe().reason());
        }
        try (Communicator ranks = provider.create(Options.defaults())) {
            for (long bytes = 1024; bytes <= 64L << 20; bytes *= 4) {
                int count = (int) (bytes / 4);
                float[] data = new float[count];
                java.util.Arrays.fill(data, 1f);
                int repeats = bytes <= (64 << 10) ? 2000 : bytes <= (1 << 20) ? 200 : 20;
                // warm: C2 compiles the call path after ~10 000 calls (it is the same code at every size, so the
                // first size pays for all), then 3 calls as C
                int warmUp = 3 + (bytes == 1024 ? WARM_UP_CALLS : 0);
                for (int i = 0; i < warmUp; i++) {
                    ranks.allReduceSum(data, 0, count);
                }
                // the best of BLOCKS blocks: a block in which another process took a rank's core says nothing of
                // the call (both ranks spin in MPI, so one preempted rank stalls the other)
                double seconds = Double.MAX_VALUE;
                for (int block = 0; block < BLOCKS; block++) {
                    ranks.barrier();
                    long start = System.nanoTime();
                    for (int i = 0; i < repeats; i++) {
                        ranks.allReduceSum(data, 0, count);
                    }
                    seconds = Math.min(seconds, (System.nanoTime() - start) / 1e9 / repeats);
                }
                if (ranks.rank() == 0) {
                    System.out.printf(Locale.ROOT, "kiln  %10d bytes %10.1f us %8.3f GB/s%n", bytes, seconds * 1e6,
                            bytes / seconds / 1e9);
                }
            }
        }
    }
}
