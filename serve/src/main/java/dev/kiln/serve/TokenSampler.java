package dev.kiln.serve;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits and reports log-probabilities. Everything is computed from that row
 * alone, in a fixed order and in double precision, so a sequence's choices and log-probabilities do not depend on
 * what else shares the batch. Sorting happens only when top-p or top-k needs an order.
 */
final class TokenSampler {
    private final int vocab;
    private final double[] weights;
    private long[] order = new long[0];

    TokenSampler(int vocab) {
        this.vocab = vocab;
        this.weights = new double[vocab];
    }

    /** The log-sum-exp of the row, the normaliser of its log-softmax. */
    double logNormaliser(float[] logits, int offset) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return max + Math.log(sum);
    }

    int choose(float[] logits, int offset, GenerationParams params, SplittableRandom random) {
        if (params.temperature() == 0) {
            int best = 0;
            for (int i = 1; i < vocab; i++) {
                if (logits[offset + i] > logits[offset + best]) {
                    best = i;
                }
            }
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            weights[i] = Math.exp((logits[offset + i] - max) / params.temperature());
            total += weights[i];
        }
        if (params.topP() >= 1 && (params.topK() == 0 || params.topK() >= vocab)) {
            double u = random.nextDouble() * total;
            for (int i = 0; i < vocab; i++) {
                u -= weights[i];
                if (u <= 0 && weights[i] > 0) {
                    return i;
                }
            }
            return argmax(logits, offset);
        }
        int ranked = rank(logits, offset);
        int keep = params.topK() > 0 ? Math.min(params.topK(), ranked) : ranked;
        double kept = 0;
        for (int r = 0; r < keep; r++) {
            kept += weights[index(r)];
        }
        if (params.topP() < 1) {
            double cumulative = 0;
            for (int r = 0; r < keep; r++) {
                cumulative += weights[index(r)] / kept;
                if (cumulative >= params.topP()) {
                    keep = r + 1;
                    break;
                }
            }
            kept = 0;
            for (int r = 0; r < keep; r++) {
                kept += weights[index(r)];
            }
        }
        double u = random.nextDouble() * kept;
        for (int r = 0; r < keep; r++) {
            u -= weights[index(r)];
            if (u <= 0) {
                return index(r);
            }
        }
        return index(keep - 1);
    }

    /** The {@code count} most likely tokens of the row, most likely first (ties: the lower id first). */
    int[] top(float[] logits, int offset, int count) {
        int ranked = rank(logits, offset);
        int[] out = new int[Math.min(count, ranked)];
        for (int r = 0; r < out.length; r++) {
            out[r] = index(r);
        }
        return out;
    }

    private int argmax(float[] logits, int offset) {
        int best = 0;
        for (int i = 1; i < vocab; i++) {
            if (logits[offset + i] > logits[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    /** Orders the row by logit, descending, into {@link #order}; returns how many entries it holds. */
    private int rank(float[] logits, int offset) {
        if (order.length != vocab) {
            order = new long[vocab];
        }
        for (int i = 0; i < vocab; i++) {
            int bits = Float.floatToRawIntBits(logits[offset + i]);
            int ascending = bits ^ ((bits >> 31) & 0x7fffffff);           // orders as the floats do
            order[i] = ((long) ~ascending << 32) | i;                        // descending logit, then ascending id
        }
        Arrays.sort(order);
        return vocab;
    }

    private int index(int rank) {
        return (int) order[rank];
    }
}
