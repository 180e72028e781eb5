package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.BeamDecoder;
import dev.kiln.api.model.EncodedSource;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.nn.Linear;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The encoder-decoder contract on a toy model written against it (one embedding, cross-attention from the target to
 * the source memory, a head): named inputs reach encode and decode, source padding past each row's length changes
 * nothing, and a decoder-only call says what is missing.
 */
class EncoderDecoderContractTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));
    private static final int VOCAB = 13;
    private static final int WIDTH = 8;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    /** Target tokens attend (non-causally, one head) to the source memory, masked by the source lengths. */
    static final class CrossAttentionToy extends EncoderDecoderModel {
        final Embedding embedding;
        final Linear head;

        CrossAttentionToy(Generator g) {
            embedding = registerModule("embedding", new Embedding(BACKEND, VOCAB, WIDTH, g));
            head = registerModule("fc", new Linear(BACKEND, WIDTH, VOCAB, true, g));
        }

        @Override
        public String modelId() {
            return "toy-seq2seq";
        }

        @Override
        public int vocabSize() {
            return VOCAB;
        }

        @Override
        public Options hyperparameters() {
            return Options.defaults();
        }

        @Override
        public EncodedSource encode(Tensor sourceIds, int[] sourceLengths) {
            return new EncodedSource(embedding.forward(sourceIds), sourceLengths);            // (B, S, C)
        }

        @Override
        public Tensor decode(EncodedSource source, Tensor targetIds, int[] targetLengths) {
            Tensor memory = source.memory();
            int b = memory.size(0);
            int s = memory.size(1);
            int t = targetIds.size(1);
            Tensor q = embedding.forward(targetIds).reshape(b, 1, t, WIDTH);                   // (B, 1, T, C)
            Tensor kv = memory.reshape(b, 1, s, WIDTH);                                       // (B, 1, S, C)
            Tensor y = q.scaledDotProductAttention(kv, kv, new AttentionShape(b, 1, t, s, WIDTH,
                    AttentionShape.defaultScale(WIDTH), false, new int[b], source.lengths()));
            return head.forward(y.reshape(b, t, WIDTH));                                      // (B, T, V)
        }

        @Override
        public BeamDecoder decoder(EncodedSource source) {
            throw new KilnException("the toy decodes with teacher forcing only");
        }
    }

    @Test
    void namedInputsReachTheEncoderAndDecoderAndSourcePaddingIsMasked() {
        CrossAttentionToy model = new CrossAttentionToy(new Generator(4));
        assertEquals(ModelKind.ENCODER_DECODER, model.kind());
        int[] sourceLengths = {3, 5};
        int[] source = {1, 2, 3, 0, 0, 4, 5, 6, 7, 8};
        int[] paddedOtherwise = {1, 2, 3, 11, 12, 4, 5, 6, 7, 8};           // row 0's padding holds other ids
        int[] target = {9, 10, 1, 2};
        try (var noGrad = GradMode.noGrad()) {
            Tensor viaInputs = model.forward(inputs(source, sourceLengths, target));
            EncodedSource encoded = model.encode(Tensor.ofInts(BACKEND, source, 2, 5), sourceLengths);
            Tensor direct = model.decode(encoded, Tensor.ofInts(BACKEND, target, 2, 2), new int[] {2, 2});
            assertArrayEquals(direct.toFloatArray(), viaInputs.toFloatArray(), "forward(inputs) is decode(encode)");
            assertArrayEquals(viaInputs.toFloatArray(),
                    model.forward(inputs(paddedOtherwise, sourceLengths, target)).toFloatArray(),
                    "ids past a row's source length never reach the decoder");
            float[] unmasked = model.forward(inputs(paddedOtherwise, new int[] {5, 5}, target)).toFloatArray();
            float[] masked = viaInputs.toFloatArray();
            boolean differs = false;
            for (int i = 0; i < 2 * VOCAB; i++) {
                differs |= unmasked[i] != masked[i];
            }
            assertTrue(differs, "with full lengths the padding ids do change row 0: the lengths are what masks them");
        }
        KilnException decoderOnly = assertThrows(KilnException.class,
                () -> model.forward(Tensor.ofInts(BACKEND, target, 2, 2)));
        assertTrue(decoderOnly.getMessage().contains("encoder-decoder") && decoderOnly.getMessage().contains("source"),
                decoderOnly.getMessage());
        KilnException missing = assertThrows(KilnException.class,
                () -> model.forward(ModelInputs.ids(Tensor.ofInts(BACKEND, target, 2, 2))));
        assertTrue(missing.getMessage().contains("source_ids"), missing.getMessage());
    }

    private static ModelInputs inputs(int[] source, int[] sourceLengths, int[] target) {
        return ModelInputs.of(Map.of(ModelInputs.SOURCE_IDS, Tensor.ofInts(BACKEND, source, 2, 5),
                ModelInputs.TARGET_IDS, Tensor.ofInts(BACKEND, target, 2, 2)),
                Map.of(ModelInputs.SOURCE_LENGTHS, sourceLengths, ModelInputs.TARGET_LENGTHS, new int[] {2, 2}));
    }
}
