package dev.kiln.serve;

import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks each row's next token and reports log-probabilities, from one decode step's logits. The softmax of
 * logits / temperature and the log-softmax run on the backend for the whole batch (row-wise kernels: a row's values do
 * not depend on the other rows); the choice walks one row in a fixed order, so a sequence's tokens and
 * log-probabilities do not depend on what else shares the step. Sorting happens only when top-p or top-k needs an
 * order.
 */
final class TokenSampler {
    private final int vocab;
    private long[] order = new long[0];

    /** One step's rows: the logits, and where asked for, the sampling probabilities and the log-probabilities. */
    record Rows(float[] logits, float[] probabilities, float[] logprobs) {
    }

    TokenSampler(int vocab) {
        this.vocab = vocab;
    }

    /** Reads a step's logits (rows, vocab) and computes what the rows' sequences need of them. */
    Rows read(Tensor logits, List<Sequence> rows) {
        int n = rows.size();
        float[] inverseTemperature = new float[n];
        boolean sampling = false;
        boolean logprobs = false;
        for (int i = 0; i < n; i++) {
            GenerationParams p = rows.get(i).params;
            inverseTemperature[i] = p.temperature() > 0 ? (float) (1 / p.temperature()) : 1f;
            sampling |= p.temperature() > 0;
            logprobs |= p.wantsLogprobs();
        }
        float[] probabilities = sampling ? logits.mul(Tensor.of(logits.backend(), inverseTemperature, n, 1))
                .softmax(-1).toFloatArray() : null;
        float[] logp = logprobs ? logits.logSoftmax(-1).toFloatArray() : null;
        return new Rows(logits.toFloatArray(), probabilities, logp);
    }

    int choose(Rows rows, int row, GenerationParams params, SplittableRandom random) {
        int offset = row * vocab;
        float[] logits = rows.logits();
        if (params.temperature() == 0) {
            return argmax(logits, offset);
        }
        float[] p = rows.probabilities();
        if (params.topP() >= 1 && (params.topK() == 0 || params.topK() >= vocab)) {
            double total = 0;
            for (int i = 0; i < vocab; i++) {
                total += p[offset + i];
            }
            double u = random.nextDouble() * total;
            for (int i = 0; i < vocab; i++) {
                u -= p[offset + i];
                if (u <= 0 && p[offset + i] > 0) {
                    return i;
                }
            }
            return argmax(logits, offset);
        }
        rank(logits, offset);
        int keep = params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab;
        double kept = 0;
        for (int r = 0; r < keep; r++) {
            kept += p[offset + index(r)];
        }
        if (params.topP() < 1) {
            double cumulative = 0;
            for (int r = 0; r < keep; r++) {
                cumulative += p[offset + index(r)] / kept;
                if (cumulative >= params.topP()) {
                    keep = r + 1;
                    break;
                }
            }
            kept = 0;
            for (int r = 0; r < keep; r++) {
                kept += p[offset + index(r)];
            }
        }
        double u = random.nextDouble() * kept;
        for (int r = 0; r < keep; r++) {
            u -= p[offset + index(r)];
            if (u <= 0) {
                return index(r);
            }
        }
        return index(keep - 1);
    }

    /** The chosen token's log-probability and the {@code count} most likely tokens' (most likely first). */
    Event.TokenLogprob logprob(Rows rows, int row, int token, int count) {
        int offset = row * vocab;
        float[] logp = rows.logprobs();
        List<Event.Alternative> top = new java.util.ArrayList<>(count);
        if (count > 0) {
            rank(rows.logits(), offset);
            for (int r = 0; r < Math.min(count, vocab); r++) {
                top.add(new Event.Alternative(index(r), logp[offset + index(r)]));
            }
        }
        return new Event.TokenLogprob(token, logp[offset + token], top);
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

    /** Orders the row by logit, descending (ties: the lower id first), into {@link #order}. */
    private void rank(float[] logits, int offset) {
        if (order.length != vocab) {
            order = new long[vocab];
        }
        for (int i = 0; i < vocab; i++) {
            int bits = Float.floatToRawIntBits(logits[offset + i]);
            int ascending = bits ^ ((bits >> 31) & 0x7fffffff);           // orders as the floats do
            order[i] = ((long) ~ascending << 32) | i;
        }
        Arrays.sort(order);
    }

    private int index(int rank) {
        return (int) order[rank];
    }
}
