package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code bpe} tokenizer against tiktoken, id for id: every line of the vector file (KILN_TOKENIZER_VECTORS, default
 * ../shared/data/tokenizer_vectors.jsonl) in gpt2, cl100k_base and o200k_base, and lossless round trips.
 */
class TokenizerExactnessTest {
    private static final List<String> ENCODINGS = List.of("gpt2", "cl100k_base", "o200k_base");
    private static final Map<String, Tokenizer> TOKENIZERS = new LinkedHashMap<>();

    static PluginRegistry<TokenizerProvider> tokenizers() {
        return PluginRegistry.load("tokenizer", TokenizerProvider.class, ModuleLayer.boot());
    }

    @BeforeAll
    static void load() {
        for (String encoding : ENCODINGS) {
            TOKENIZERS.put(encoding, tokenizers().get("bpe")
                    .load(SharedData.shared().resolve("data/tiktoken/" + encoding + ".tiktoken")));
        }
    }

    private static Path vectors() {
        String env = System.getenv("KILN_TOKENIZER_VECTORS");
        return env != null ? Path.of(env) : SharedData.shared().resolve("data/tokenizer_vectors.jsonl");
    }

    @TestFactory
    Stream<DynamicTest> everyVectorInEveryEncoding() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        int lineNumber = 0;
        for (String line : Files.readAllLines(vectors(), StandardCharsets.UTF_8)) {
            lineNumber++;
            if (line.isBlank()) {
                continue;
            }
            Map<?, ?> vector = (Map<?, ?>) Json.parse(line, vectors() + " line " + lineNumber);
            String text = (String) vector.get("text");
            boolean allowAll = "all".equals(vector.get("allowed_special"));
            String label = "line " + lineNumber + " (" + vector.get("category") + ")";
            tests.add(dynamicTest(label, () -> {
                for (String encoding : ENCODINGS) {
                    Tokenizer tokenizer = TOKENIZERS.get(encoding);
                    int[] expected = ((List<?>) vector.get(encoding)).stream().mapToInt(o -> ((Number) o).intValue())
                            .toArray();
                    int[] got = allowAll ? tokenizer.encode(text, tokenizer.specialTokens().keySet()) : tokenizer.encode(text);
                    assertArrayEquals(expected, got, encoding + " " + label + ": " + text);
                    assertEquals(sanitized(text), tokenizer.decode(got), encoding + " round trip " + label);
                }
            }));
        }
        assertTrue(tests.size() >= 100, "the vector file has " + tests.size() + " lines");
        return tests.stream();
    }

    /** What tiktoken makes of a string: lone surrogates become U+FFFD. */
    private static String sanitized(String text) {
        return new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8).equals(text) ? text
                : replaceLone(text);
    }

    private static String replaceLone(String text) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                sb.append(c).append(text.charAt(++i));
            } else {
                sb.append(Character.isSurrogate(c) ? '\uFFFD' : c);
            }
        }
        return sb.toString();
    }

    @Test
    void anyByteSequenceSurvivesABytesRoundTrip() {
        Tokenizer gpt2 = TOKENIZERS.get("gpt2");
        SplittableRandom random = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            byte[] bytes = new byte[random.nextInt(1, 40)];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) random.nextInt(256);
            }
            String text = new String(bytes, StandardCharsets.ISO_8859_1);    // every byte a character
            assertEquals(text, gpt2.decode(gpt2.encode(text)));
        }
    }

    /**
     * A megabyte without split points (a run of one letter, a base64 blob, DNA) is one piece; its merges used to be
     * quadratic in its length ('a' × 512 Ki took 101 s). They are O(n log n) now, with the same ids (the vectors
     * above pass with every piece through the long-piece path, checked once by setting its threshold to 1).
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 60, unit = java.util.concurrent.TimeUnit.SECONDS,
            threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aMegabyteWithoutSplitPointsEncodesInTime() {
        java.util.Random random = new java.util.Random(5);
        StringBuilder base64 = new StringBuilder();
        StringBuilder dna = new StringBuilder();
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int i = 0; i < 1 << 20; i++) {
            base64.append(alphabet.charAt(random.nextInt(alphabet.length())));
            dna.append("ACGT".charAt(random.nextInt(4)));
        }
        for (String encoding : ENCODINGS) {
            Tokenizer tokenizer = TOKENIZERS.get(encoding);
            for (String text : List.of("a".repeat(1 << 20), base64.toString(), dna.toString())) {
                int[] ids = tokenizer.encode(text);
                assertTrue(ids.length > 0 && ids.length < text.length(), encoding);
                assertEquals(text, tokenizer.decode(ids), encoding + " round trip");
            }
        }
    }

    @Test
    void specialTokensAreTextUnlessAllowed() {
        Tokenizer cl100k = TOKENIZERS.get("cl100k_base");
        String text = "hi<|endoftext|>there";
        int[] plain = cl100k.encode(text);
        int[] allowed = cl100k.encode(text, Set.of("<|endoftext|>"));
        assertTrue(plain.length > allowed.length);
        assertTrue(java.util.Arrays.stream(allowed).anyMatch(id -> id == 100257));
        assertTrue(java.util.Arrays.stream(plain).noneMatch(id -> id == 100257));
        KilnException e = assertThrows(KilnException.class, () -> cl100k.encode(text, Set.of("<|nope|>")));
        assertTrue(e.getMessage().contains("<|nope|>"), e.getMessage());
    }

    @Test
    void aCorruptRankFileNamesTheFileAndLine(@TempDir Path dir) throws IOException {
        Path rank = dir.resolve("bad.tiktoken");
        Files.writeString(rank, "IQ== 0\nIg== 1\nnot-base64!! 2\n");
        Files.copy(SharedData.shared().resolve("data/tiktoken/gpt2.json"), dir.resolve("bad.json"));
        KilnException e = assertThrows(KilnException.class, () -> tokenizers().get("bpe").load(rank));
        assertTrue(e.getMessage().contains("bad.tiktoken") && e.getMessage().contains("line 3"), e.getMessage());
    }
}
