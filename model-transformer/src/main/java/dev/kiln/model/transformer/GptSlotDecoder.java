package dev.kiln.model.transformer;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.DecoderSlots;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;

/**
 * GPT decoding for a ragged batch: per layer one key and one value cache of (slots, H, maxLength, D), each slot at its
 * own length. A step runs the listed slots' new tokens (padded to the longest) through the blocks in one batch;
 * attention sees, for each row, its own cached keys as the general attention's per-row query offset and key length,
 * so neither the padding nor another slot's keys reach it.
 */
final class GptSlotDecoder implements SlotDecoder {
    private final GptLanguageModel model;
    private final GptConfig config;
    private final Backend backend;
    private final DecoderSlots table;
    private final int maxLength;
    private final Tensor[] keys;
    private final Tensor[] values;

    GptSlotDecoder(GptLanguageModel model, int slots, int maxLength) {
        this.table = new DecoderSlots("gpt", slots, maxLength);
        this.model = model;
        this.config = model.config();
        this.backend = model.namedParameters().get("transformer.wte.weight").backend();
        this.maxLength = maxLength;
        this.keys = new Tensor[config.layers()];
        this.values = new Tensor[config.layers()];
        for (int layer = 0; layer < config.layers(); layer++) {
            keys[layer] = Tensor.zeros(backend, slots, config.heads(), maxLength, config.headSize());
            values[layer] = Tensor.zeros(backend, slots, config.heads(), maxLength, config.headSize());
        }
    }

    @Override
    public int capacity() {
        return table.capacity();
    }

    @Override
    public int maxLength() {
        return maxLength;
    }

    @Override
    public int open() {
        return table.open();
    }

    @Override
    public void release(int slot) {
        table.release(slot);
    }

    @Override
    public int length(int slot) {
        return table.length(slot);
    }

    @Override
    public Tensor step(int[] slots, int[][] tokens) {
        table.checkStep(slots, tokens);
        int rows = slots.length;
        int time = 0;
        for (int[] t : tokens) {
            time = Math.max(time, t.length);
        }
        int steps = time;
        int[] ids = new int[rows * time];
        int[] positions = new int[rows * time];
        int[] last = new int[rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < time; j++) {
                ids[i * time + j] = j < tokens[i].length ? tokens[i][j] : 0;             // padding: never attended to
                positions[i * time + j] = Math.min(table.length(slots[i]) + j, maxLength - 1);
            }
            last[i] = i * time + tokens[i].length - 1;
        }
        try (var noGrad = GradMode.noGrad()) {
            Tensor x = model.embed(Tensor.ofInts(backend, ids, rows, time),
                    Tensor.ofInts(backend, positions, rows, time));                        // (n, T, C)
            x = model.blocks(x, layer -> new Step(layer, slots, tokens, steps));
            Tensor lastHidden = x.reshape(rows * time, config.width())
                    .embedding(Tensor.ofInts(backend, last, rows));                        // (n, C)
            Tensor logits = model.head(lastHidden);                                         // (n, V)
            table.advance(slots, tokens);
            return logits;
        }
    }

    /** One layer's attention within one step: store the new keys and values, attend over each row's own prefix. */
    private final class Step implements AttentionCache {
        private final int layer;
        private final int[] slots;
        private final int[][] tokens;
        private final int time;

        Step(int layer, int[] slots, int[][] tokens, int time) {
            this.layer = layer;
            this.slots = slots;
            this.tokens = tokens;
            this.time = time;
        }

        @Override
        public Tensor attend(Tensor q, Tensor k, Tensor v) {
            int rows = slots.length;
            int heads = config.heads();
            int d = config.headSize();
            int[] offsets = new int[rows];
            int[] keyLengths = new int[rows];
            int longest = 0;
            for (int i = 0; i < rows; i++) {
                offsets[i] = table.length(slots[i]);
                keyLengths[i] = offsets[i] + tokens[i].length;
                longest = Math.max(longest, keyLengths[i]);
                store(k, keys[layer], i, slots[i], offsets[i], tokens[i].length);
                store(v, values[layer], i, slots[i], offsets[i], tokens[i].length);
            }
            if (time == 1) {
                return attendInPlace(q, offsets, keyLengths);
            }
            Tensor rowKeys = gather(keys[layer], keyLengths, longest);                     // (n, H, L, D)
            Tensor rowValues = gather(values[layer], keyLengths, longest);
            return q.scaledDotProductAttention(rowKeys, rowValues, new AttentionShape(rows, heads, time, longest, d,
                    AttentionShape.defaultScale(d), true, offsets, keyLengths));             // (n, H, T, D)
        }

        /**
         * A decode step (one new token per row) attends over the caches where they are: each row's query goes to its
         * slot's place in a (slots, H, 1, D) batch whose other places see no keys, so no prefix is copied.
         */
        private Tensor attendInPlace(Tensor q, int[] rowOffsets, int[] rowKeyLengths) {
            int rows = slots.length;
            int heads = config.heads();
            int d = config.headSize();
            int capacity = table.capacity();
            int[] offsets = new int[capacity];
            int[] keyLengths = new int[capacity];
            Tensor queries = Tensor.zeros(backend, capacity, heads, 1, d);
            Tensor source = q.contiguous();
            for (int i = 0; i < rows; i++) {
                offsets[slots[i]] = rowOffsets[i];
                keyLengths[slots[i]] = rowKeyLengths[i];
                backend.copyStrided(source.storage(), i * heads * d, new int[] {heads * d}, new int[] {1},
                        queries.storage(), slots[i] * heads * d, new int[] {1});
            }
            Tensor attended = queries.scaledDotProductAttention(keys[layer], values[layer], new AttentionShape(
                    capacity, heads, 1, maxLength, d, AttentionShape.defaultScale(d), true, offsets, keyLengths));
            Tensor out = Tensor.zeros(backend, rows, heads, 1, d);
            Tensor all = attended.contiguous();
            for (int i = 0; i < rows; i++) {
                backend.copyStrided(all.storage(), slots[i] * heads * d, new int[] {heads * d}, new int[] {1},
                        out.storage(), i * heads * d, new int[] {1});
            }
            return out;                                                                       // (n, H, 1, D)
        }

        /** Row {@code row}'s first {@code count} new keys (n, H, T, D) into the slot's cache from {@code start}. */
        private void store(Tensor source, Tensor cache, int row, int slot, int start, int count) {
            int heads = config.heads();
            int d = config.headSize();
            backend.copyStrided(source.storage(), row * heads * time * d, new int[] {heads, count, d},
                    new int[] {time * d, d, 1}, cache.storage(), (slot * heads * maxLength + start) * d,
                    new int[] {maxLength * d, d, 1});
        }

        /** The slots' cached prefixes as (n, H, longest, D), zero past each row's length. */
        private Tensor gather(Tensor cache, int[] keyLengths, int longest) {
            int heads = config.heads();
            int d = config.headSize();
            Tensor out = Tensor.zeros(backend, slots.length, heads, longest, d);
            for (int i = 0; i < slots.length; i++) {
                backend.copyStrided(cache.storage(), slots[i] * heads * maxLength * d,
                        new int[] {heads, keyLengths[i], d}, new int[] {maxLength * d, d, 1},
                        out.storage(), i * heads * longest * d, new int[] {longest * d, d, 1});
            }
            return out;
        }
    }

    @Override
    public void close() {
        for (int layer = 0; layer < keys.length; layer++) {
            backend.release(keys[layer].storage());
            backend.release(values[layer].storage());
        }
        table.releaseAll();
    }
}
