package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import dev.kiln.tokenizer.bpe.BpeTrainer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** BPE training reproduces minbpe's merges exactly (../shared/data/minbpe_train_golden.json), with and without a split. */
class BpeTrainingTest {

    @ParameterizedTest
    @ValueSource(strings = {"basic", "regex_gpt4_pattern"})
    void reproducesMinbpeMerges(String model) throws IOException {
        Map<?, ?> golden = (Map<?, ?>) Json.parse(Files.readString(SharedData.shared().resolve(
                "data/minbpe_train_golden.json")), "minbpe_train_golden.json");
        String text = Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"), StandardCharsets.UTF_8);
        text = text.substring(0, text.offsetByCodePoints(0, 20000));
        int vocabSize = ((Number) golden.get("vocab_size")).intValue();
        String pattern = model.equals("basic") ? null : cl100kPattern();
        List<BpeTrainer.Merge> merges = BpeTrainer.train(text, vocabSize, pattern, List.of()).merges();
        List<?> expected = (List<?>) ((Map<?, ?>) ((Map<?, ?>) golden.get("models")).get(model)).get("merges");
        assertEquals(expected.size(), merges.size(), model + ": number of merges");
        for (int i = 0; i < expected.size(); i++) {
            List<?> e = (List<?>) expected.get(i);
            BpeTrainer.Merge got = merges.get(i);
            assertEquals(List.of(((Number) e.get(0)).intValue(), ((Number) e.get(1)).intValue(), ((Number) e.get(2)).intValue()),
                    List.of(got.left(), got.right(), got.id()), model + " merge " + i);
        }
    }

    static String cl100kPattern() throws IOException {
        Map<?, ?> meta = (Map<?, ?>) Json.parse(Files.readString(SharedData.shared().resolve(
                "data/tiktoken/cl100k_base.json")), "cl100k_base.json");
        return (String) meta.get("pat_str");
    }

    @Test
    void aTrainedVocabularyIsLossless() throws IOException {
        String text = "the cat sat on the mat; the cat sat on the hat. Ünïcödé → 漢字 🙂";
        var tokenizer = BpeTrainer.train(text, 300, cl100kPattern(), List.of("<|end|>")).tokenizer();
        int[] ids = tokenizer.encode(text);
        assertTrue(ids.length < text.getBytes(StandardCharsets.UTF_8).length, "merges shorten the text");
        assertEquals(text, tokenizer.decode(ids));
        assertEquals(tokenizer.vocabSize() - 1, tokenizer.encode("<|end|>", java.util.Set.of("<|end|>"))[0]);
    }

    @Test
    void badTrainingInputIsAClearError() {
        assertTrue(assertThrows(KilnException.class, () -> BpeTrainer.train("abc", 255, null, List.of()))
                .getMessage().contains("255"));
        assertTrue(assertThrows(KilnException.class, () -> BpeTrainer.train("", 300, null, List.of()))
                .getMessage().contains("empty"));
    }

    @Test
    void tokenizersAreTrainedByNameThroughTheRegistry(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        var registry = TokenizerExactnessTest.tokenizers();
        String corpus = "to be, or not to be: that is the question";
        var bpe = registry.get("bpe").train(corpus, dev.kiln.api.plugin.Options.of("vocab_size", "270", "pattern", "gpt2",
                "special", "<|endoftext|>"));
        assertEquals(corpus, bpe.decode(bpe.encode(corpus)));
        assertEquals(java.util.Set.of("<|endoftext|>"), bpe.specialTokens().keySet());
        var chars = (dev.kiln.tokenizer.bpe.CharTokenizer) registry.get("char").train(corpus, dev.kiln.api.plugin.Options.defaults());
        assertEquals(corpus, chars.decode(chars.encode(corpus)));
        assertEquals(chars.unknownId(), chars.encode("Z")[0], "unseen characters map to the unknown id");
        chars.save(dir.resolve("char.json"));
        var loaded = registry.get("char").load(dir.resolve("char.json"));
        org.junit.jupiter.api.Assertions.assertArrayEquals(chars.encode(corpus), loaded.encode(corpus));
        KilnException typo = assertThrows(KilnException.class, () -> registry.get("bpe").train(corpus,
                dev.kiln.api.plugin.Options.of("vocab_sise", "300")));
        assertTrue(typo.getMessage().contains("vocab_sise"), typo.getMessage());
    }

    /** A misspelt pattern name is an error with the name meant, not a literal regex that drops all text. */
    @Test
    void misspeltPatternNamesAreRefusedWithTheNearestName() {
        var bpe = PluginRegistry.load("tokenizer", TokenizerProvider.class, ModuleLayer.boot()).get("bpe");
        for (String[] wrong : new String[][] {{"cl100k_base", "cl100k"}, {"GPT2", "gpt2"}, {"o200k-base", "o200k"}}) {
            KilnException e = assertThrows(KilnException.class,
                    () -> bpe.train("hello world", Options.of("vocab_size", "260", "pattern", wrong[0])));
            assertTrue(e.getMessage().contains("'" + wrong[0] + "'") && e.getMessage().contains("did you mean "
                    + wrong[1]), e.getMessage());
        }
    }

    /** A custom pattern keeps the text between its matches: decoding gives back every string, whatever it matched. */
    @Test
    void customPatternsAreLossless() {
        var bpe = PluginRegistry.load("tokenizer", TokenizerProvider.class, ModuleLayer.boot()).get("bpe");
        String text = "Hello, world! 123 and more words, numbers 4567, and punctuation?!";
        for (String pattern : List.of("\\p{L}+", "[a-z]+", " ?\\p{N}")) {
            Tokenizer t = bpe.train(text.repeat(20), Options.of("vocab_size", "300", "pattern", pattern));
            assertEquals("Hello, world! 123", t.decode(t.encode("Hello, world! 123")), pattern);
            SplittableRandom random = new SplittableRandom(pattern.hashCode());
            for (int i = 0; i < 200; i++) {
                StringBuilder s = new StringBuilder();
                for (int c = random.nextInt(40); c > 0; c--) {
                    int[] ranges = {0x20, 0x7e, 0xa0, 0x24f, 0x400, 0x4ff, 0x4e00, 0x4fff, 0x1f600, 0x1f64f};
                    int r = 2 * random.nextInt(ranges.length / 2);
                    s.appendCodePoint(ranges[r] + random.nextInt(ranges[r + 1] - ranges[r] + 1));
                }
                assertEquals(s.toString(), t.decode(t.encode(s.toString())), pattern + " on " + s);
            }
        }
    }
}
