package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/** Autoregressive generation over any {@link LanguageModel}, reading the prompt once through its {@link Decoder}. */
public final class TextGeneration {
    private TextGeneration() {
    }

    /**
     * Continues {@code prompt} (at least one token) and returns the new tokens; {@code onToken} sees each as it is
     * chosen (streaming). Stops at maxTokens or at a stop token (which is returned but not fed back). A model with a
     * bounded context sees at most its last {@link LanguageModel#maxContext()} tokens.
     */
    public static int[] generate(LanguageModel model, int[] prompt, Sampling sampling, IntConsumer onToken) {
        if (prompt.length == 0) {
            throw new KilnException("generate: the prompt needs at least one token");
        }
        List<Integer> out = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(sampling.seed());
        int window = model.maxContext();
        List<Integer> sequence = new ArrayList<>(Arrays.stream(prompt).boxed().toList());
        boolean wasTraining = model.isTraining();
        model.eval();
        try (var noGrad = GradMode.noGrad(); MemoryScope scope = MemoryScope.open()) {
            Decoder decoder = model.decoder(1);
            int position = 0;
            int[] next = tail(sequence, Math.min(sequence.size(), window));
            for (int produced = 0; produced < sampling.maxTokens(); produced++) {
                if (position + next.length > window) {
                    // The context is full: start a fresh cache on the newest half of the sequence (nanoGPT crops to
                    // the last block_size tokens and recomputes every step; half a window amortises that).
                    decoder = model.decoder(1);
                    position = 0;
                    next = tail(sequence, Math.max(1, window / 2));
                }
                float[] logits;
                try (MemoryScope step = MemoryScope.open()) {
                    logits = decoder.next(Tensor.ofInts(model.parameters().getFirst().backend(), next, 1, next.length))
                            .toFloatArray();
                }
                position += next.length;
                int token = choose(logits, sampling, random);
                out.add(token);
                sequence.add(token);
                onToken.accept(token);
                if (sampling.stopTokens().contains(token)) {
                    break;
                }
                next = new int[] {token};
            }
        } finally {
            model.train(wasTraining);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int[] tail(List<Integer> sequence, int length) {
        return sequence.subList(sequence.size() - length, sequence.size()).stream().mapToInt(Integer::intValue)
                .toArray();
    }

    /** Picks one token from a logits row according to the sampling rule. */
    public static int choose(float[] logits, Sampling sampling, SplittableRandom random) {
        if (sampling.temperature() == 0) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = sampling.topK() > 0 ? Math.min(sampling.topK(), logits.length) : logits.length;
        double max = logits[order[0]];
        double[] weights = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) {
            weights[i] = Math.exp((logits[order[i]] - max) / sampling.temperature());
            total += weights[i];
        }
        if (sampling.topP() < 1) {
            double cumulative = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cumulative += weights[i] / total;
                if (cumulative >= sampling.topP()) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            total = 0;
            for (int i = 0; i < keep; i++) {
                total += weights[i];
            }
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            u -= weights[i];
            if (u <= 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }
}
