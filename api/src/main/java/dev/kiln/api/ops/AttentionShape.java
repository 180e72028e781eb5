package dev.kiln.api.ops;

import dev.kiln.api.KilnException;
import java.util.Arrays;

/**
 * The geometry of one scaled-dot-product attention: queries (batch·heads, queries, headDim) against keys and values
 * (batch·heads, keys, headDim). Row b of the batch (all its heads) has its queries at positions
 * [queryOffsets[b], queryOffsets[b] + queries) of its keys — that is what causal masking compares — and only its first
 * keyLengths[b] keys exist. A query that sees no key outputs zeros and gets zero gradients.
 *
 * <p>Today's causal self-attention is offsets 0 and full lengths; cached decoding of the next token is offset
 * length − 1; encoder self-attention and cross-attention are non-causal with the source lengths.
 */
public record AttentionShape(int batch, int heads, int queries, int keys, int headDim, float scale, boolean causal,
                             int[] queryOffsets, int[] keyLengths) {
    public AttentionShape {
        if (batch < 1 || heads < 1 || queries < 1 || keys < 1 || headDim < 1) {
            throw new KilnException("attention: empty geometry batch=" + batch + " heads=" + heads + " queries="
                    + queries + " keys=" + keys + " headDim=" + headDim);
        }
        if (queryOffsets.length != batch || keyLengths.length != batch) {
            throw new KilnException("attention: " + queryOffsets.length + " query offsets and " + keyLengths.length
                    + " key lengths for a batch of " + batch + " (one of each per batch row)");
        }
        for (int b = 0; b < batch; b++) {
            if (keyLengths[b] < 0 || keyLengths[b] > keys || queryOffsets[b] < 0) {
                throw new KilnException("attention: batch row " + b + " has key length " + keyLengths[b]
                        + " and query offset " + queryOffsets[b] + "; lengths must lie in [0, " + keys
                        + "] and offsets be non-negative");
            }
        }
        queryOffsets = queryOffsets.clone();
        keyLengths = keyLengths.clone();
    }

    /** Every query sees every key (encoder self-attention with no padding). */
    public static AttentionShape full(int batch, int heads, int queries, int keys, int headDim) {
        return new AttentionShape(batch, heads, queries, keys, headDim, defaultScale(headDim), false, new int[batch],
                filled(batch, keys));
    }

    /** Causal self-attention from position 0: query i sees keys 0..i. */
    public static AttentionShape causal(int batch, int heads, int time, int headDim) {
        return new AttentionShape(batch, heads, time, time, headDim, defaultScale(headDim), true, new int[batch],
                filled(batch, time));
    }

    /** 1/√headDim, as {@code F.scaled_dot_product_attention}. */
    public static float defaultScale(int headDim) {
        return (float) (1.0 / Math.sqrt(headDim));
    }

    static int[] filled(int n, int value) {
        int[] out = new int[n];
        Arrays.fill(out, value);
        return out;
    }

    public int batchHeads() {
        return batch * heads;
    }

    /** How many keys (a prefix, [0, visibleKeys)) query {@code query} of batch row {@code row} attends to. */
    public int visibleKeys(int row, int query) {
        int limit = keyLengths[row];
        if (causal) {
            limit = Math.min(limit, queryOffsets[row] + query + 1);
        }
        return Math.max(0, limit);
    }

    /** The first query of batch row {@code row} that sees key {@code key}, or {@link #queries()} if none does. */
    public int firstQuerySeeing(int row, int key) {
        if (key >= keyLengths[row]) {
            return queries;
        }
        return causal ? Math.min(queries, Math.max(0, key - queryOffsets[row])) : 0;
    }

    @Override
    public int[] queryOffsets() {
        return queryOffsets.clone();
    }

    @Override
    public int[] keyLengths() {
        return keyLengths.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AttentionShape s && s.batch == batch && s.heads == heads && s.queries == queries
                && s.keys == keys && s.headDim == headDim && Float.compare(s.scale, scale) == 0 && s.causal == causal
                && Arrays.equals(s.queryOffsets, queryOffsets) && Arrays.equals(s.keyLengths, keyLengths);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(queryOffsets) + Arrays.hashCode(keyLengths) + queries * 7 + keys;
    }

    @Override
    public String toString() {
        return "AttentionShape[batch=" + batch + ", heads=" + heads + ", queries=" + queries + ", keys=" + keys
                + ", headDim=" + headDim + ", causal=" + causal + ", queryOffsets=" + Arrays.toString(queryOffsets)
                + ", keyLengths=" + Arrays.toString(keyLengths) + "]";
    }
}
