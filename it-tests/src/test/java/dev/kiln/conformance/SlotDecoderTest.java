package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The slot decoders of gpt and lstm on ragged batches: every slot's logits equal a full forward pass over that slot's
 * sequence alone,
 * whatever shares the step — prompts of different lengths prefilled together, single tokens after, a slot released and
 * reused mid-stream.
 */
class SlotDecoderTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));
    private static final int VOCAB = 50;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static LanguageModel gpt(String... extra) {
        List<String> options = new ArrayList<>(List.of("vocab_size", "50", "n_layer", "2", "n_head", "2", "n_embd",
                "16", "n_positions", "32"));
        options.addAll(List.of(extra));
        return ModelParityTest.models().get("gpt").create(BACKEND, Options.of(options.toArray(String[]::new)),
                new Generator(11));
    }

    /** The logits after the last token of {@code sequence}, from a plain forward pass (no cache). */
    private static float[] recomputed(LanguageModel model, List<Integer> sequence) {
        try (var noGrad = GradMode.noGrad()) {
            int[] ids = sequence.stream().mapToInt(Integer::intValue).toArray();
            Tensor logits = model.forward(Tensor.ofInts(BACKEND, ids, 1, ids.length));
            return logits.select(1, ids.length - 1).toFloatArray();
        }
    }

    private static void assertRow(float[] expected, float[] batch, int row, String what) {
        for (int v = 0; v < VOCAB; v++) {
            float e = expected[v];
            float a = batch[row * VOCAB + v];
            assertTrue(Math.abs(e - a) <= 2e-5 + 2e-5 * Math.abs(e), what + " logit " + v + ": " + e + " vs " + a);
        }
    }

    private static LanguageModel lstm() {
        return ModelParityTest.models().get("lstm").create(BACKEND, Options.of("vocab_size", "50", "embed_size", "12",
                "hidden_size", "16", "num_layers", "2"), new Generator(11));
    }

    @Test
    void raggedStepsMatchRecomputingEachSequenceAlone() {
        Map<String, LanguageModel> models = new java.util.LinkedHashMap<>();
        models.put("gpt layernorm", gpt("norm", "layernorm"));
        models.put("gpt rmsnorm", gpt("norm", "rmsnorm"));
        models.put("lstm", lstm());
        for (Map.Entry<String, LanguageModel> entry : models.entrySet()) {
            String norm = entry.getKey();
            LanguageModel model = entry.getValue();
            SplittableRandom random = new SplittableRandom(3);
            try (SlotDecoder decoder = model.slotDecoder(3, 32)) {
                List<List<Integer>> sequences = new ArrayList<>();
                int[] slots = {decoder.open(), decoder.open(), decoder.open()};
                int[][] prompts = new int[3][];
                int[] promptLengths = {5, 1, 5};          // lstm batches rows 0 and 2, then row 1
                for (int i = 0; i < 3; i++) {
                    prompts[i] = random.ints(promptLengths[i], 0, VOCAB).toArray();
                    List<Integer> s = new ArrayList<>();
                    for (int id : prompts[i]) {
                        s.add(id);
                    }
                    sequences.add(s);
                }
                float[] logits = decoder.step(slots, prompts).toFloatArray();
                for (int i = 0; i < 3; i++) {
                    assertRow(recomputed(model, sequences.get(i)), logits, i, norm + " prefill of slot " + i);
                    assertEquals(promptLengths[i], decoder.length(slots[i]));
                }
                for (int step = 0; step < 6; step++) {
                    if (step == 3) {                  // slot 1 ends; a new sequence takes its place with a prompt
                        decoder.release(slots[1]);
                        slots[1] = decoder.open();
                        sequences.set(1, new ArrayList<>(List.of(7, 8, 9, 10)));
                        float[] prefill = decoder.step(new int[] {slots[1]}, new int[][] {{7, 8, 9, 10}}).toFloatArray();
                        assertRow(recomputed(model, sequences.get(1)), prefill, 0, norm + " reused slot");
                    }
                    int[][] next = new int[3][];
                    for (int i = 0; i < 3; i++) {
                        next[i] = new int[] {random.nextInt(VOCAB)};
                        sequences.get(i).add(next[i][0]);
                    }
                    // the rows in another order than the slots, to show rows and slots are independent
                    int[] order = {slots[2], slots[0], slots[1]};
                    int[][] orderedTokens = {next[2], next[0], next[1]};
                    float[] stepLogits = decoder.step(order, orderedTokens).toFloatArray();
                    assertRow(recomputed(model, sequences.get(2)), stepLogits, 0, norm + " step " + step + " slot 2");
                    assertRow(recomputed(model, sequences.get(0)), stepLogits, 1, norm + " step " + step + " slot 0");
                    assertRow(recomputed(model, sequences.get(1)), stepLogits, 2, norm + " step " + step + " slot 1");
                }
            }
        }
    }

    @Test
    void misuseIsAClearError() {
        LanguageModel model = gpt();
        try (SlotDecoder decoder = model.slotDecoder(1, 8)) {
            int slot = decoder.open();
            assertTrue(assertThrows(KilnException.class, decoder::open).getMessage().contains("in use"));
            assertTrue(assertThrows(KilnException.class, () -> decoder.step(new int[] {slot},
                    new int[][] {new int[9]})).getMessage().contains("do not fit"));
            decoder.release(slot);
            assertTrue(assertThrows(KilnException.class, () -> decoder.step(new int[] {slot},
                    new int[][] {{1}})).getMessage().contains("not open"));
        }
        try (SlotDecoder decoder = lstm().slotDecoder(2, 4)) {
            int slot = decoder.open();
            assertTrue(assertThrows(KilnException.class, () -> decoder.step(new int[] {slot, slot},
                    new int[][] {{1}, {2}})).getMessage().contains("twice"));
            assertTrue(assertThrows(KilnException.class, () -> decoder.step(new int[] {slot},
                    new int[][] {new int[5]})).getMessage().contains("do not fit"));
        }
        LanguageModel bigram = new LanguageModel() {
            @Override
            public String modelId() {
                return "plain";
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
            public Tensor forward(Tensor ids) {
                throw new AssertionError();
            }

            @Override
            public dev.kiln.api.model.Decoder decoder(int batch) {
                throw new AssertionError();
            }
        };
        assertTrue(assertThrows(KilnException.class, () -> bigram.slotDecoder(2, 8)).getMessage()
                .contains("model plain has no slot decoder"));
    }
}
