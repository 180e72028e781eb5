package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.tokenizer.bpe.BpeTokenizer;
import dev.kiln.tokenizer.bpe.HuggingFaceFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT-2's three published forms give the same ids, and tokenizer.json written by Kiln reads back identically. */
class TokenizerFilesTest {
    private static Tokenizer load(Path file) {
        return TokenizerExactnessTest.tokenizers().get("bpe").load(file);
    }

    private static List<String> vectorTexts() throws IOException {
        Path vectors = SharedData.shared().resolve("data/tokenizer_vectors.jsonl");
        return Files.readAllLines(vectors, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank())
                .map(l -> (String) ((Map<?, ?>) Json.parse(l, vectors.toString())).get("text")).toList();
    }

    @Test
    void allThreeGpt2FormsGiveTiktokensIds() throws IOException {
        Path data = SharedData.shared().resolve("data");
        Tokenizer tiktoken = load(data.resolve("tiktoken/gpt2.tiktoken"));
        Tokenizer original = load(data.resolve("gpt2/encoder.json"));
        Tokenizer huggingFace = load(data.resolve("gpt2/tokenizer.json"));
        String shakespeare = Files.readString(data.resolve("tinyshakespeare.txt")).substring(0, 200_000);
        for (String text : concat(vectorTexts(), shakespeare)) {
            int[] expected = tiktoken.encode(text);
            assertArrayEquals(expected, original.encode(text), "encoder.json + vocab.bpe: " + text);
            assertArrayEquals(expected, huggingFace.encode(text), "tokenizer.json: " + text);
        }
        assertEquals(Map.of("<|endoftext|>", 50256), original.specialTokens());
        assertEquals(Map.of("<|endoftext|>", 50256), huggingFace.specialTokens());
    }

    private static List<String> concat(List<String> texts, String more) {
        List<String> all = new java.util.ArrayList<>(texts);
        all.add(more);
        return all;
    }

    @Test
    void everyTokenizerSavesWhatItsProviderLoadsBackNormalizersIncluded(@TempDir Path dir) {
        String corpus = "Ｆｕｌｌ Width and MIXED case\u0007 text, again and again: Full width and mixed case text. ";
        for (String normalize : List.of("", "nfkc,lowercase,strip_control")) {
            Tokenizer trained = TokenizerExactnessTest.tokenizers().get("bpe").train(corpus.repeat(20),
                    Options.of("vocab_size", "300", "normalize", normalize));
            Path file = dir.resolve("bpe-" + normalize.length() + ".json");
            trained.save(file);
            Tokenizer loaded = load(file);
            for (String text : List.of(corpus, "ＭＩＸＥＤ\u0001 Case", "plain")) {
                assertArrayEquals(trained.encode(text), loaded.encode(text), normalize + ": " + text);
            }
            if (!normalize.isEmpty()) {
                assertArrayEquals(loaded.encode("full width"), loaded.encode("Ｆｕｌｌ\u0007 WIDTH"),
                        "the loaded tokenizer still normalizes");
            }
        }
        Tokenizer chars = TokenizerExactnessTest.tokenizers().get("char").train(corpus, Options.defaults());
        chars.save(dir.resolve("char.json"));
        Tokenizer charsAgain = TokenizerExactnessTest.tokenizers().get("char").load(dir.resolve("char.json"));
        assertArrayEquals(chars.encode(corpus), charsAgain.encode(corpus));
    }

    @Test
    void aWrittenTokenizerJsonLoadsBackIdentically(@TempDir Path dir) throws IOException {
        String corpus = Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt")).substring(0, 100_000);
        BpeTokenizer trained = (BpeTokenizer) TokenizerExactnessTest.tokenizers().get("bpe").train(corpus,
                Options.of("vocab_size", "600", "pattern", "cl100k", "special", "<|endoftext|>,<|pad|>"));
        Path file = dir.resolve("tokenizer.json");
        HuggingFaceFiles.writeTokenizerJson(trained, file);
        Tokenizer loaded = load(file);
        assertEquals(trained.specialTokens(), loaded.specialTokens());
        assertEquals(trained.vocabSize(), loaded.vocabSize());
        for (String text : concat(vectorTexts(), corpus)) {
            assertArrayEquals(trained.encode(text), loaded.encode(text), text);
        }
        // GPT-2 itself survives the round trip too (merges are recovered from the ranks)
        BpeTokenizer gpt2 = (BpeTokenizer) load(SharedData.shared().resolve("data/tiktoken/gpt2.tiktoken"));
        Path gpt2File = dir.resolve("gpt2-tokenizer.json");
        HuggingFaceFiles.writeTokenizerJson(gpt2, gpt2File);
        Tokenizer gpt2Again = load(gpt2File);
        for (String text : vectorTexts()) {
            assertArrayEquals(gpt2.encode(text), gpt2Again.encode(text), text);
        }
    }

    @Test
    void brokenFilesNameWhatIsWrong(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\"}}");
        assertTrue(assertThrows(KilnException.class, () -> load(dir.resolve("tokenizer.json"))).getMessage()
                .contains("BPE"));
        Files.writeString(dir.resolve("encoder.json"), "{\"a\": 0, \"b\": 1}");
        Files.writeString(dir.resolve("vocab.bpe"), "#version: 0.2\na b c\n");
        KilnException e = assertThrows(KilnException.class, () -> load(dir.resolve("encoder.json")));
        assertTrue(e.getMessage().contains("vocab.bpe line 2"), e.getMessage());
        assertTrue(assertThrows(KilnException.class, () -> load(dir.resolve("vocab.txt"))).getMessage()
                .contains("supported"));
    }

    /**
     * A saved tokenizer.json is byte-stable: its objects keep one key order in every JVM (Map.of's order changes from
     * one run to the next, so a resume's tokenizer digest changed and the token caches were built again and again).
     */
    @Test
    void aSavedTokenizerJsonHasOneKeyOrder(@TempDir Path dir) throws IOException {
        Tokenizer trained = TokenizerExactnessTest.tokenizers().get("bpe").train("Ｆｕｌｌ Width text. ".repeat(30),
                Options.of("vocab_size", "280", "pattern", "cl100k", "normalize", "nfkc,lowercase,strip_control"));
        Path file = dir.resolve("tokenizer.json");
        trained.save(file);
        String text = Files.readString(file);
        for (String expected : List.of("\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                        + "\"pattern\":{\"Regex\":",
                "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}",
                "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"},"
                        + "{\"type\":\"Replace\",\"pattern\":{\"Regex\":")) {
            assertTrue(text.contains(expected), expected + " in " + text.substring(0, Math.min(600, text.length())));
        }
        trained.save(dir.resolve("again.json"));
        assertArrayEquals(Files.readAllBytes(file), Files.readAllBytes(dir.resolve("again.json")));
    }

    /**
     * Every malformed id in a tokenizer.json is one error naming the file and the field: an id of 2e9 used to run out
     * of heap, −5, 2^31−1, "x" and 2.5 to throw index, array-size or cast exceptions (or be taken as 2).
     */
    @Test
    void aMalformedTokenIdIsOneErrorNamingTheField(@TempDir Path dir) throws IOException {
        BpeTokenizer trained = (BpeTokenizer) TokenizerExactnessTest.tokenizers().get("bpe").train("hello world ".repeat(50),
                Options.of("vocab_size", "270", "special", "<|endoftext|>"));
        Path good = dir.resolve("good.json");
        HuggingFaceFiles.writeTokenizerJson(trained, good);
        String text = Files.readString(good);
        for (String bad : List.of("2000000000", "-5", "2147483647", "\"x\"", "2.5")) {
            Map<String, Object> json = castMap(Json.parse(text, "good"));
            Map<String, Object> model = castMap(json.get("model"));
            Map<String, Object> vocab = castMap(model.get("vocab"));
            vocab.put(vocab.keySet().iterator().next(), Json.parse(bad, "id"));
            Path file = dir.resolve("bad.json");
            Files.writeString(file, Json.write(json));
            KilnException e = assertThrows(KilnException.class, () -> load(file), bad);
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("model.vocab"),
                    bad + ": " + e.getMessage());
            Map<String, Object> special = castMap(Json.parse(text, "good"));
            List<Object> added = new java.util.ArrayList<>((List<?>) special.get("added_tokens"));
            Map<String, Object> first = castMap(added.getFirst());
            first.put("id", Json.parse(bad, "id"));
            Files.writeString(file, Json.write(special));
            KilnException s2 = assertThrows(KilnException.class, () -> load(file), bad);
            assertTrue(s2.getMessage().contains("added_tokens[0].id"), bad + ": " + s2.getMessage());
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object value) {
        return (Map<String, Object>) value;
    }

    @Test
    void normalizersAreAnOptInPipelineStep() {
        var normalizer = dev.kiln.tokenizer.bpe.Normalizer.parse("nfkc,lowercase,strip_control");
        // NFKC unfolds the ligature and composes e + U+0301; lowercase; the bell goes, the tab stays
        assertEquals("file caf\u00e9 x\ty", normalizer.apply("\uFB01LE Cafe\u0301 X\u0007\tY"));
        assertEquals("caf\u00e9", dev.kiln.tokenizer.bpe.Normalizer.parse("nfc").apply("cafe\u0301"));
        assertTrue(assertThrows(KilnException.class, () -> dev.kiln.tokenizer.bpe.Normalizer.parse("nfd")).getMessage()
                .contains("nfd"));
        Tokenizer folded = TokenizerExactnessTest.tokenizers().get("bpe").train("Hello hello HELLO world",
                Options.of("vocab_size", "260", "normalize", "lowercase"));
        assertArrayEquals(folded.encode("hello"), folded.encode("HeLLo"));
        Tokenizer plain = TokenizerExactnessTest.tokenizers().get("bpe").train("Hello hello HELLO world",
                Options.of("vocab_size", "260"));
        assertEquals("HeLLo", plain.decode(plain.encode("HeLLo")), "off by default: lossless");
    }

    @Test
    void batchEncodingMatchesOneByOneAndKeepsOrder() throws IOException {
        Tokenizer cl100k = load(SharedData.shared().resolve("data/tiktoken/cl100k_base.tiktoken"));
        List<String> texts = vectorTexts();
        List<int[]> batch = cl100k.encodeBatch(texts);
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(cl100k.encode(texts.get(i)), batch.get(i), texts.get(i));
        }
    }
}
