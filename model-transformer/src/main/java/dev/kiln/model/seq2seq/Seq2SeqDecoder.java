package dev.kiln.model.seq2seq;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.model.BeamDecoder;
import dev.kiln.api.model.EncodedSource;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.tensor.Tensor;

/**
 * Incremental decoding against one encoded source batch: each layer's cross-attention keys and values are projected
 * from the memory once, and its self-attention keys and values are kept for every decoded position, so a step costs
 * one token's worth of projections. Every row has decoded the same number of tokens (they start together from BOS);
 * {@link #reorder} gathers rows for beam search. The cache grows by doubling.
 */
final class Seq2SeqDecoder implements BeamDecoder {
    private static final int INITIAL_CAPACITY = 16;

    private final Seq2SeqTransformer model;
    private final Backend backend;
    private final int layers;
    private final int heads;
    private final int headSize;
    private final Tensor[] memoryKeys;                    // per layer (rows, H, S, D)
    private final Tensor[] memoryValues;
    private final Tensor[] keys;                          // per layer (rows, H, capacity, D)
    private final Tensor[] values;
    private int[] sourceLengths;
    private int rows;
    private int capacity;
    private int length;

    Seq2SeqDecoder(Seq2SeqTransformer model, EncodedSource source) {
        this.model = model;
        Tensor memory = source.memory();
        this.backend = memory.backend();
        Seq2SeqConfig c = model.config();
        this.layers = c.decoderLayers();
        this.heads = c.heads();
        this.headSize = c.headSize();
        this.rows = memory.size(0);
        this.sourceLengths = source.lengths();
        this.memoryKeys = new Tensor[layers];
        this.memoryValues = new Tensor[layers];
        for (int l = 0; l < layers; l++) {
            Tensor[] kv = model.transformer.decoder.layers.get(l).multiheadAttn.memoryKeysValues(memory);
            memoryKeys[l] = kv[0].contiguous();
            memoryValues[l] = kv[1].contiguous();
        }
        this.capacity = INITIAL_CAPACITY;
        this.keys = new Tensor[layers];
        this.values = new Tensor[layers];
        for (int l = 0; l < layers; l++) {
            keys[l] = Tensor.zeros(backend, rows, heads, capacity, headSize);
            values[l] = Tensor.zeros(backend, rows, heads, capacity, headSize);
        }
    }

    /** ids (rows, t) of the next target tokens → logits (rows, V) after the last of them. */
    @Override
    public Tensor next(Tensor ids) {
        if (ids.size(0) != rows) {
            throw new KilnException("seq2seq decoder: " + ids.size(0) + " rows of tokens for " + rows + " sequences");
        }
        int t = ids.size(1);
        grow(length + t);
        int start = length;
        int total = start + t;
        AttentionShape selfShape = new AttentionShape(rows, heads, t, total, headSize,
                AttentionShape.defaultScale(headSize), true, filled(start), filled(total));
        AttentionShape crossShape = new AttentionShape(rows, heads, t, memoryKeys[0].size(2), headSize,
                AttentionShape.defaultScale(headSize), false, new int[rows], sourceLengths);
        Tensor x = model.embed(ids, start);                                               // (rows, t, C)
        for (int l = 0; l < layers; l++) {
            int layer = l;
            x = model.transformer.decoder.layers.get(l).forward(x, (attention, q, k, v) -> {
                store(k, keys[layer], start, t);
                store(v, values[layer], start, t);
                return attention.attend(q, prefix(keys[layer], total), prefix(values[layer], total), selfShape);
            }, memoryKeys[l], memoryValues[l], crossShape);
        }
        length = total;
        Tensor last = x.slice(1, t - 1, t).reshape(rows, x.size(2));                      // (rows, C)
        return model.head(last);                                                          // (rows, V)
    }

    @Override
    public void reorder(int[] order) {
        for (int row : order) {
            if (row < 0 || row >= rows) {
                throw new KilnException("seq2seq decoder: row " + row + " is outside [0, " + rows + ")");
            }
        }
        Tensor index = Tensor.ofInts(backend, order, order.length);
        for (int l = 0; l < layers; l++) {
            keys[l] = gather(keys[l], index);
            values[l] = gather(values[l], index);
            memoryKeys[l] = gather(memoryKeys[l], index);
            memoryValues[l] = gather(memoryValues[l], index);
        }
        int[] lengths = new int[order.length];
        for (int i = 0; i < order.length; i++) {
            lengths[i] = sourceLengths[order[i]];
        }
        sourceLengths = lengths;
        rows = order.length;
    }

    /** How many target tokens each row has decoded. */
    int length() {
        return length;
    }

    private static Tensor gather(Tensor x, Tensor index) {
        int[] shape = x.shape();
        int rest = x.numel() / shape[0];
        shape[0] = index.size(0);
        return x.reshape(x.size(0), rest).embedding(index).reshape(shape);
    }

    private int[] filled(int value) {
        int[] out = new int[rows];
        java.util.Arrays.fill(out, value);
        return out;
    }

    private void grow(int needed) {
        if (needed <= capacity) {
            return;
        }
        int larger = capacity;
        while (larger < needed) {
            larger *= 2;
        }
        for (int l = 0; l < layers; l++) {
            keys[l] = copyInto(keys[l], larger);
            values[l] = copyInto(values[l], larger);
        }
        capacity = larger;
    }

    private Tensor copyInto(Tensor cache, int larger) {
        Tensor bigger = Tensor.zeros(backend, rows, heads, larger, headSize);
        if (length == 0) {
            return bigger;
        }
        backend.copyStrided(cache.storage(), 0, new int[] {rows, heads, length, headSize},
                new int[] {heads * capacity * headSize, capacity * headSize, headSize, 1},
                bigger.storage(), 0, new int[] {heads * larger * headSize, larger * headSize, headSize, 1});
        return bigger;
    }

    /** Writes new keys or values (rows, H, t, D) into the cache at positions [start, start + t). */
    private void store(Tensor source, Tensor cache, int start, int t) {
        Tensor dense = source.contiguous();
        backend.copyStrided(dense.storage(), 0, new int[] {rows, heads, t, headSize},
                new int[] {heads * t * headSize, t * headSize, headSize, 1},
                cache.storage(), start * headSize,
                new int[] {heads * capacity * headSize, capacity * headSize, headSize, 1});
    }

    /** The first {@code total} cached positions as a dense (rows, H, total, D) tensor. */
    private Tensor prefix(Tensor cache, int total) {
        Storage out = backend.allocate(DType.FLOAT32, rows * heads * total * headSize);
        backend.copyStrided(cache.storage(), 0, new int[] {rows, heads, total, headSize},
                new int[] {heads * capacity * headSize, capacity * headSize, headSize, 1},
                out, 0, new int[] {heads * total * headSize, total * headSize, headSize, 1});
        return Tensor.fromStorage(backend, out, rows, heads, total, headSize);
    }
}
