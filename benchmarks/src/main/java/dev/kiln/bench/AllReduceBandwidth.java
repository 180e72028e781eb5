package dev.kiln.bench;

import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.distributed.CommunicatorProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.distributed.mpi.MpiCommunicatorProvider;
import java.util.Locale;

/**
 * Kiln's communicator against MPI_Allreduce from C ({@code scripts/allreduce.c}): the same sizes (1 KB … 64 MB of
 * floats), repeats and warm-up, an in-place sum, timed on rank 0. Run both with {@code scripts/allreduce.sh}.
 */
public final class AllReduceBandwidth {
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
                int repeats = bytes <= (1 << 20) ? 200 : 20;
                for (int i = 0; i < 3 + 2000 / Math.max(1, (int) (bytes >> 10)); i++) {
                    ranks.allReduceSum(data, 0, count);                         // warm: the JIT, then as C
                }
                ranks.barrier();
                long start = System.nanoTime();
                for (int i = 0; i < repeats; i++) {
                    ranks.allReduceSum(data, 0, count);
                }
                double seconds = (System.nanoTime() - start) / 1e9 / repeats;
                if (ranks.rank() == 0) {
                    System.out.printf(Locale.ROOT, "kiln  %10d bytes %10.1f us %8.3f GB/s%n", bytes, seconds * 1e6,
                            bytes / seconds / 1e9);
                }
            }
        }
    }
}
