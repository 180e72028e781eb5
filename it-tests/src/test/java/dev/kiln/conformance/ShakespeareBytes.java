package dev.kiln.conformance;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.GradientClipping;
import dev.kiln.api.optim.LrSchedule;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.util.SplittableRandom;

/**
 * tinyshakespeare as bytes (vocabulary 256), split 90/10, for the models' "does it learn" tests: training with AdamW,
 * warmup + cosine and clipping, then the validation loss, against the unigram entropy of the training split.
 */
final class ShakespeareBytes {
    final byte[] text;
    final int split;

    ShakespeareBytes() throws IOException {
        text = Files.readAllBytes(SharedData.shared().resolve("data/tinyshakespeare.txt"));
        split = text.length * 9 / 10;
    }

    /** Nats per byte of the training split's byte frequencies: what a model that ignores context reaches. */
    double unigramEntropy() {
        long[] counts = new long[256];
        for (int i = 0; i < split; i++) {
            counts[text[i] & 0xFF]++;
        }
        double entropy = 0;
        for (long count : counts) {
            if (count > 0) {
                double p = count / (double) split;
                entropy -= p * Math.log(p);
            }
        }
        return entropy;
    }

    /** Trains for {@code steps} mini-batches of batch × time and returns the mean validation loss of 8 batches. */
    double trainAndValidate(Backend backend, LanguageModel model, LrSchedule schedule, int steps, int batch, int time,
                            long seed) {
        Optimizer optimizer = Adam.adamW(ParamGroup.decayMatricesOnly(model.namedParameters(), 0.1), 0, 0.9, 0.99);
        SplittableRandom random = new SplittableRandom(seed);
        for (int step = 0; step < steps; step++) {
            try (MemoryScope scope = MemoryScope.open()) {
                Tensor[] xy = window(backend, 0, split, batch, time, random);
                Tensor loss = model.forward(xy[0]).crossEntropy(xy[1], -100);
                optimizer.zeroGrad();
                loss.backward();
                GradientClipping.clipGradNorm(model.parameters(), 1.0);
                optimizer.setLearningRate(schedule.lr(step));
                optimizer.step();
            }
        }
        double validation = 0;
        model.eval();
        try (var noGrad = GradMode.noGrad(); MemoryScope scope = MemoryScope.open()) {
            SplittableRandom held = new SplittableRandom(seed + 1);
            for (int i = 0; i < 8; i++) {
                Tensor[] xy = window(backend, split, text.length, batch, time, held);
                validation += model.forward(xy[0]).crossEntropy(xy[1], -100).item() / 8;
            }
        }
        model.train(true);
        return validation;
    }

    /** Random windows of time + 1 bytes from text[from, to): inputs and next-byte targets. */
    Tensor[] window(Backend backend, int from, int to, int batch, int time, SplittableRandom random) {
        int[] x = new int[batch * time];
        int[] y = new int[batch * time];
        for (int b = 0; b < batch; b++) {
            int start = from + random.nextInt(to - from - time - 1);
            for (int t = 0; t < time; t++) {
                x[b * time + t] = text[start + t] & 0xFF;
                y[b * time + t] = text[start + t + 1] & 0xFF;
            }
        }
        return new Tensor[] {Tensor.ofInts(backend, x, batch, time), Tensor.ofInts(backend, y, batch, time)};
    }
}
