package dev.kiln.bench;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Tensor;
import java.util.SplittableRandom;

/** Seeded random token ids, as the PyTorch anchor's {@code torch.randint}: the training benchmarks' inputs and targets. */
final class RandomTokens {
    private RandomTokens() {
    }

    static Tensor ids(Backend backend, int batch, int time, int vocab, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[batch * time];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(vocab);
        }
        return Tensor.ofInts(backend, ids, batch, time);
    }
}
