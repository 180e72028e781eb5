package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.optim.LrSchedule;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.model.transformer.GptLanguageModel;
import dev.kiln.model.transformer.HuggingFaceGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gpt plugin learning real text, generating through its KV cache, and reading Hugging Face snapshots. */
class GptTrainingTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static LanguageModel gpt(String... extra) {
        List<String> options = new ArrayList<>(List.of("vocab_size", "64", "n_positions", "32", "n_layer", "2",
                "n_head", "2", "n_embd", "16"));
        options.addAll(List.of(extra));
        return ModelParityTest.models().get("gpt").create(BACKEND, Options.of(options.toArray(String[]::new)),
                new Generator(2));
    }

    @Test
    void threeHundredStepsOnShakespeareBeatTheUnigramEntropyByFar() throws IOException {
        ShakespeareBytes data = new ShakespeareBytes();
        LanguageModel model = ModelParityTest.models().get("gpt").create(BACKEND, Options.of("vocab_size", "256",
                "n_positions", "64", "n_layer", "2", "n_head", "4", "n_embd", "64"), new Generator(3));
        double validation = data.trainAndValidate(BACKEND, model, LrSchedule.warmupCosine(3e-3, 3e-4, 20, 300), 300,
                16, 64, 5);
        double unigram = data.unigramEntropy();
        assertTrue(validation < unigram - 0.7, "validation loss " + validation + " nats/byte should be far below the "
                + "unigram entropy " + unigram);
    }

    private static float[] lastRow(LanguageModel model, int[] ids) {
        float[] logits = model.forward(Tensor.ofInts(BACKEND, ids, 1, ids.length)).toFloatArray();
        return Arrays.copyOfRange(logits, (ids.length - 1) * model.vocabSize(), ids.length * model.vocabSize());
    }

    @Test
    void cachedGenerationGivesTheSameTokensAsRecomputingThePrefix() {
        LanguageModel model = gpt();
        int[] prompt = {5, 17, 42, 8, 1};
        int[] cached = TextGeneration.generate(model, prompt, Sampling.greedy(20), t -> { });
        List<Integer> sequence = new ArrayList<>(Arrays.stream(prompt).boxed().toList());
        try (var noGrad = GradMode.noGrad()) {
            for (int expected : cached) {
                float[] row = lastRow(model, sequence.stream().mapToInt(Integer::intValue).toArray());
                int best = 0;
                for (int v = 1; v < row.length; v++) {
                    if (row[v] > row[best]) {
                        best = v;
                    }
                }
                assertEquals(best, expected, "token " + sequence.size());
                sequence.add(best);
            }
        }
    }

    @Test
    void theCacheHandlesPromptsStepsAndMultiTokenContinuations() {
        LanguageModel model = gpt("positions", "sinusoidal", "activation_function", "relu", "bias", "false");
        try (var noGrad = GradMode.noGrad()) {
            Decoder decoder = model.decoder(1);
            decoder.next(Tensor.ofInts(BACKEND, new int[] {3, 9, 27}, 1, 3));                 // prompt from position 0
            decoder.next(Tensor.ofInts(BACKEND, new int[] {11}, 1, 1));                       // one token
            float[] continued = decoder.next(Tensor.ofInts(BACKEND, new int[] {7, 2, 60}, 1, 3)).toFloatArray();
            BackendConformanceKit.assertClose("cache after prompt, step, 3-token continuation",
                    lastRow(model, new int[] {3, 9, 27, 11, 7, 2, 60}), continued, 1e-5, 1e-4);
        }
    }

    @Test
    void aHuggingFaceSnapshotLoadsWithEitherNamingAndIgnoresMaskBuffers(@TempDir Path dir) throws IOException {
        GptLanguageModel original = (GptLanguageModel) gpt();
        HuggingFaceGpt2.save(original, dir.resolve("lm-head"));
        // the GPT2Model naming (no "transformer." prefix) with the causal-mask buffers older exports carry
        Path bare = dir.resolve("bare");
        Files.createDirectories(bare);
        Files.copy(dir.resolve("lm-head/config.json"), bare.resolve("config.json"));
        SafeTensors.Writer writer = SafeTensors.writer();
        original.namedParameters().forEach((name, p) -> writer.floats(name.substring("transformer.".length()),
                p.toFloatArray(), p.shape()));
        writer.floats("h.0.attn.bias", new float[32 * 32], new int[] {1, 1, 32, 32});
        writer.write(bare.resolve("model.safetensors"));
        int[] ids = {1, 2, 3, 4, 5, 6};
        float[] expected = lastRow(original, ids);
        for (String snapshot : List.of("lm-head", "bare")) {
            GptLanguageModel loaded = HuggingFaceGpt2.load(BACKEND, dir.resolve(snapshot));
            BackendConformanceKit.assertClose(snapshot, expected, lastRow(loaded, ids), 1e-6, 1e-6);
        }
    }

    @Test
    void aSnapshotThatDisagreesWithItsConfigNamesWhatIsWrong(@TempDir Path dir) throws IOException {
        GptLanguageModel original = (GptLanguageModel) gpt();
        HuggingFaceGpt2.save(original, dir);
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json"))
                .replace("\"n_layer\":2", "\"n_layer\":3"));
        KilnException e = assertThrows(KilnException.class, () -> HuggingFaceGpt2.load(BACKEND, dir));
        assertTrue(e.getMessage().contains("transformer.h.2.attn.c_attn.weight"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llama\"}");
        assertTrue(assertThrows(KilnException.class, () -> HuggingFaceGpt2.load(BACKEND, dir)).getMessage()
                .contains("llama"));
    }

    @Test
    void badHyperparametersAreClearErrors() {
        KilnException e = assertThrows(KilnException.class, () -> gpt("n_head", "3"));
        assertTrue(e.getMessage().contains("n_embd 16") && e.getMessage().contains("n_head 3"), e.getMessage());
    }

    @Test
    void gpt2InitialisationScalesResidualProjections() {
        LanguageModel model = ModelParityTest.models().get("gpt").create(BACKEND, Options.of("vocab_size", "64",
                "n_positions", "32", "n_layer", "8", "n_head", "4", "n_embd", "128"), new Generator(9));
        double fc = std(model.namedParameters().get("transformer.h.0.mlp.c_fc.weight").toFloatArray());
        double proj = std(model.namedParameters().get("transformer.h.0.mlp.c_proj.weight").toFloatArray());
        assertEquals(0.02, fc, 0.002);
        assertEquals(0.02 / Math.sqrt(16), proj, 0.0005);
    }

    private static double std(float[] x) {
        double mean = 0;
        for (float v : x) {
            mean += v;
        }
        mean /= x.length;
        double sq = 0;
        for (float v : x) {
            sq += (v - mean) * (v - mean);
        }
        return Math.sqrt(sq / x.length);
    }

    @Test
    void aGpt2LayoutSnapshotGeneratesWithTheGpt2Vocabulary(@TempDir Path dir) {
        // a small, randomly initialised model with GPT-2's real vocabulary, written as a Hugging Face snapshot
        GptLanguageModel random = (GptLanguageModel) ModelParityTest.models().get("gpt").create(BACKEND,
                Options.of("vocab_size", "50257", "n_positions", "64", "n_layer", "1", "n_head", "2", "n_embd", "16"),
                new Generator(4));
        HuggingFaceGpt2.save(random, dir);
        GptLanguageModel loaded = HuggingFaceGpt2.load(BACKEND, dir);
        var gpt2 = TokenizerExactnessTest.tokenizers().get("bpe")
                .load(SharedData.shared().resolve("data/tiktoken/gpt2.tiktoken"));
        int[] prompt = gpt2.encode("To be, or not to be");
        int[] fromLoaded = TextGeneration.generate(loaded, prompt, Sampling.greedy(8), t -> { });
        int[] fromOriginal = TextGeneration.generate(random, prompt, Sampling.greedy(8), t -> { });
        org.junit.jupiter.api.Assertions.assertArrayEquals(fromOriginal, fromLoaded);
        String text = gpt2.decode(fromLoaded);
        assertEquals(8, fromLoaded.length);
        assertTrue(!text.isEmpty(), "decodes to text: " + text);
    }
}
