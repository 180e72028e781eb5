package dev.kiln.model.transformer;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.tensor.Tensor;

/**
 * Keys and values of every layer for the positions decoded so far, in buffers of the full context length
 * (B, H, n_positions, D) that belong to the decoder. New tokens attend to the cached prefix and themselves, so each
 * step costs one token's worth of projections instead of the whole prefix.
 */
final class KvCache {
    private final Layer[] layers;
    private final int capacity;
    private int length;

    KvCache(Backend backend, GptConfig config, int batch) {
        this.capacity = config.contextLength();
        this.layers = new Layer[config.layers()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = new Layer(backend, batch, config.heads(), config.headSize());
        }
    }

    int length() {
        return length;
    }

    void advance(int tokens) {
        length += tokens;
    }

    Layer layer(int index) {
        return layers[index];
    }

    /** One layer's cache. */
    final class Layer implements AttentionCache {
        private final Backend backend;
        private final Tensor keys;
        private final Tensor values;
        private final int batch;
        private final int heads;
        private final int headSize;

        Layer(Backend backend, int batch, int heads, int headSize) {
            this.backend = backend;
            this.batch = batch;
            this.heads = heads;
            this.headSize = headSize;
            this.keys = Tensor.zeros(backend, batch, heads, capacity, headSize);
            this.values = Tensor.zeros(backend, batch, heads, capacity, headSize);
        }

        /** q, k, v (B, H, t, D) of the new tokens at positions [length, length + t) → attention output (B, H, t, D). */
        @Override
        public Tensor attend(Tensor q, Tensor k, Tensor v) {
            int t = q.size(2);
            int start = length;
            store(k, keys, start, t);
            store(v, values, start, t);
            if (start == 0) {
                return q.scaledDotProductAttention(k, v);                 // causal from position 0
            }
            int total = start + t;
            int[] offsets = new int[batch];
            java.util.Arrays.fill(offsets, start);                        // the new queries sit after the prefix
            int[] lengths = new int[batch];
            java.util.Arrays.fill(lengths, total);
            return q.scaledDotProductAttention(read(keys, total), read(values, total), new AttentionShape(batch, heads,
                    t, total, headSize, AttentionShape.defaultScale(headSize), true, offsets, lengths));
        }

        private void store(Tensor source, Tensor cache, int start, int t) {
            backend.copyStrided(source.storage(), 0, new int[] {batch, heads, t, headSize},
                    new int[] {heads * t * headSize, t * headSize, headSize, 1},
                    cache.storage(), start * headSize,
                    new int[] {heads * capacity * headSize, capacity * headSize, headSize, 1});
        }

        private Tensor read(Tensor cache, int total) {
            Storage out = backend.allocate(DType.FLOAT32, batch * heads * total * headSize);
            backend.copyStrided(cache.storage(), 0, new int[] {batch, heads, total, headSize},
                    new int[] {heads * capacity * headSize, capacity * headSize, headSize, 1},
                    out, 0, new int[] {heads * total * headSize, total * headSize, headSize, 1});
            return Tensor.fromStorage(backend, out, batch, heads, total, headSize);
        }
    }
}
