package dev.kiln.serve;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.DecoderSlots;
import dev.kiln.api.model.EncodedSource;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;

/**
 * Completions of a source for an encoder-decoder model: a slot's first step is its source (the whole prompt), every
 * later one the token chosen last. Each row is recomputed from its source and the target so far (encoder, then the
 * teacher-forced decoder from BOS), alone: nothing persists between steps but token ids, so no state outlives a
 * step's memory scope, and a row cannot depend on the others. That costs a pass over the target per token, which the
 * seeds' short targets allow; a cached decoder would need its caches out of the step's scope.
 */
final class Seq2SeqSlotDecoder implements SlotDecoder {
    private final EncoderDecoderModel model;
    private final Backend backend;
    private final int bos;
    private final DecoderSlots table;
    private final int[][] sources;
    private final int[][] targets;
    private final int[] targetLengths;

    Seq2SeqSlotDecoder(EncoderDecoderModel model, Backend backend, int bos, int slots, int maxSource, int maxTarget) {
        this.model = model;
        this.backend = backend;
        this.bos = bos;
        this.table = new DecoderSlots(model.modelId(), slots, maxSource + maxTarget);
        this.sources = new int[slots][];
        this.targets = new int[slots][maxTarget];
        this.targetLengths = new int[slots];
    }

    @Override
    public int capacity() {
        return table.capacity();
    }

    @Override
    public int maxLength() {
        return table.maxLength();
    }

    @Override
    public int open() {
        int slot = table.open();
        sources[slot] = null;
        targetLengths[slot] = 0;
        return slot;
    }

    @Override
    public void release(int slot) {
        table.release(slot);
        sources[slot] = null;
    }

    @Override
    public int length(int slot) {
        return table.length(slot);
    }

    @Override
    public Tensor step(int[] slots, int[][] tokens) {
        table.checkStep(slots, tokens);
        int vocab = model.vocabSize();
        float[] out = new float[slots.length * vocab];
        try (var noGrad = GradMode.noGrad()) {
            for (int i = 0; i < slots.length; i++) {
                int slot = slots[i];
                if (sources[slot] == null) {
                    sources[slot] = tokens[i].clone();
                    targets[slot][0] = bos;
                    targetLengths[slot] = 1;
                } else {
                    for (int token : tokens[i]) {
                        if (targetLengths[slot] == targets[slot].length) {
                            throw new dev.kiln.api.KilnException(model.modelId() + ": slot " + slot + " holds the "
                                    + "longest target (" + targets[slot].length + " tokens)");
                        }
                        targets[slot][targetLengths[slot]++] = token;
                    }
                }
                int[] source = sources[slot];
                int length = targetLengths[slot];
                EncodedSource encoded = model.encode(Tensor.ofInts(backend, source, 1, source.length),
                        new int[] {source.length});
                Tensor logits = model.decode(encoded, Tensor.ofInts(backend, Arrays.copyOf(targets[slot], length),
                        1, length), new int[] {length});                                   // (1, T, V)
                float[] last = logits.select(1, length - 1).toFloatArray();
                System.arraycopy(last, 0, out, i * vocab, vocab);
            }
        }
        table.advance(slots, tokens);
        return Tensor.of(backend, out, slots.length, vocab);
    }

    @Override
    public void close() {
        table.releaseAll();
    }
}
