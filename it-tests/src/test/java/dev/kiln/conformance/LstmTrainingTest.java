package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.optim.LrSchedule;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The lstm plugin learning real text, generating with a carried state, and rejecting bad hyperparameters. */
class LstmTrainingTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static LanguageModel model(String... options) {
        return ModelParityTest.models().get("lstm").create(BACKEND, Options.of(options), new Generator(1));
    }

    @Test
    void twoHundredStepsOnShakespeareBeatTheUnigramEntropyByFar() throws IOException {
        ShakespeareBytes data = new ShakespeareBytes();
        LanguageModel model = model("vocab_size", "256", "embed_size", "64", "hidden_size", "256", "num_layers", "1");
        double validation = data.trainAndValidate(BACKEND, model, LrSchedule.warmupCosine(1e-2, 1e-3, 10, 200), 200,
                16, 64, 7);
        double unigram = data.unigramEntropy();
        assertTrue(validation < unigram - 0.9, "validation loss " + validation + " nats/byte should be far below the "
                + "unigram entropy " + unigram);
    }

    @Test
    void theDecoderCarriesStateExactlyAsRecomputingThePrefix() {
        LanguageModel model = model("vocab_size", "50", "embed_size", "16", "hidden_size", "32", "num_layers", "2");
        int[] prompt = {3, 14, 15, 9, 2, 6};
        int[] generated = TextGeneration.generate(model, prompt, Sampling.greedy(12), token -> { });
        List<Integer> sequence = new ArrayList<>();
        for (int token : prompt) {
            sequence.add(token);
        }
        try (var noGrad = GradMode.noGrad()) {
            for (int expected : generated) {
                int[] ids = sequence.stream().mapToInt(Integer::intValue).toArray();
                float[] logits = model.forward(Tensor.ofInts(BACKEND, ids, 1, ids.length)).toFloatArray();
                int best = 0;
                for (int v = 1; v < 50; v++) {
                    if (logits[(ids.length - 1) * 50 + v] > logits[(ids.length - 1) * 50 + best]) {
                        best = v;
                    }
                }
                assertEquals(best, expected, "token " + sequence.size());
                sequence.add(best);
            }
            // the decoder's logits equal the full forward's last row, not only its argmax
            Decoder decoder = model.decoder(1);
            decoder.next(Tensor.ofInts(BACKEND, new int[] {3, 14, 15}, 1, 3));
            float[] stepped = decoder.next(Tensor.ofInts(BACKEND, new int[] {9}, 1, 1)).toFloatArray();
            float[] full = model.forward(Tensor.ofInts(BACKEND, new int[] {3, 14, 15, 9}, 1, 4)).toFloatArray();
            BackendConformanceKit.assertClose("decoder logits", java.util.Arrays.copyOfRange(full, 150, 200), stepped,
                    1e-5, 1e-5);
        }
    }

    @Test
    void samplingIsSeededAndStopsOnAStopToken() {
        LanguageModel model = model("vocab_size", "20", "embed_size", "8", "hidden_size", "8");
        Sampling sampling = new Sampling(1.0, 5, 0.9, 42, 30, Set.of());
        int[] first = TextGeneration.generate(model, new int[] {1}, sampling, t -> { });
        int[] second = TextGeneration.generate(model, new int[] {1}, sampling, t -> { });
        assertArrayEquals(first, second, "the same seed gives the same text");
        assertEquals(30, first.length);
        int[] other = TextGeneration.generate(model, new int[] {1}, new Sampling(1.0, 0, 1.0, 43, 30, Set.of()), t -> { });
        assertNotEquals(java.util.Arrays.toString(first), java.util.Arrays.toString(other));
        int stop = first[3];
        List<Integer> streamed = new ArrayList<>();
        int[] stopped = TextGeneration.generate(model, new int[] {1}, new Sampling(1.0, 5, 0.9, 42, 30, Set.of(stop)),
                streamed::add);
        assertTrue(stopped.length <= 4 && stopped[stopped.length - 1] == stop);
        assertEquals(stopped.length, streamed.size(), "every token is streamed as it is chosen");
    }

    @Test
    void topKOfOneIsGreedy() {
        float[] logits = {0.1f, 2.0f, -1f, 1.9f};
        for (long seed = 0; seed < 20; seed++) {
            assertEquals(1, TextGeneration.choose(logits, new Sampling(2.0, 1, 1.0, seed, 1, Set.of()),
                    new SplittableRandom(seed)));
        }
    }

    @Test
    void badHyperparametersAreClearErrors() {
        KilnException typo = assertThrows(KilnException.class, () -> model("vocab_size", "10", "embed_size", "4",
                "hiden_size", "4"));
        assertTrue(typo.getMessage().contains("hiden_size") && typo.getMessage().contains("hidden_size"),
                typo.getMessage());
        KilnException tied = assertThrows(KilnException.class, () -> model("vocab_size", "10", "embed_size", "4",
                "hidden_size", "8", "tie_weights", "true"));
        assertTrue(tied.getMessage().contains("tie_weights"), tied.getMessage());
    }

    @Test
    void tiedWeightsShareOneTensor() {
        LanguageModel model = model("vocab_size", "10", "embed_size", "8", "hidden_size", "8", "tie_weights", "true");
        assertTrue(model.namedParameters().containsKey("embedding.weight"));
        assertTrue(!model.namedParameters().containsKey("fc.weight"), "listed once, under its first name");
    }
}
