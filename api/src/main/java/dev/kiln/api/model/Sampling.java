package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import java.util.Set;

/**
 * How to pick each next token: greedy when temperature is 0, else sampling from the softmax of logits / temperature,
 * restricted to the top-k tokens (0: all) and to the smallest set whose probability reaches topP (1: all).
 */
public record Sampling(double temperature, int topK, double topP, long seed, int maxTokens, Set<Integer> stopTokens) {
    public Sampling {
        if (!(temperature >= 0 && temperature < Double.POSITIVE_INFINITY) || topK < 0 || !(topP > 0 && topP <= 1)
                || maxTokens < 0) {
            throw new KilnException("sampling: needs a finite temperature >= 0, top-k >= 0, 0 < top-p <= 1 and max "
                    + "tokens >= 0, got " + temperature + ", " + topK + ", " + topP + ", " + maxTokens);
        }
        stopTokens = Set.copyOf(stopTokens);
    }

    public static Sampling greedy(int maxTokens) {
        return new Sampling(0, 0, 1, 0, maxTokens, Set.of());
    }
}
