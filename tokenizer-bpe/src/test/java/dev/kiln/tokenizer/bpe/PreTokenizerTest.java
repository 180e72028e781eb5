package dev.kiln.tokenizer.bpe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The hand-written GPT-2 and cl100k pre-tokenizers give exactly the regular expressions' pieces. */
class PreTokenizerTest {
    private static List<String> pieces(PreTokenizer splitter, String text) {
        List<String> out = new ArrayList<>();
        splitter.split(text, (start, end) -> out.add(text.substring(start, end)));
        return out;
    }

    /** Characters that exercise every branch: contractions in both cases, ſ, digits of several scripts, spaces. */
    private static final String ALPHABET = "aZsStTdDmMlLvVeErR'’ſK0123456789٣⅔²  \t\n\r\u000B\u0085\u00A0\u2003\u3000"
            + ".,;:!?()[]{}-_/\\\"#$%&*+<=>@^`|~éßçΩжЖ中文日本語한국어🙂😀𝔘\u0301\u200B\uFFFD";

    private static String randomText(SplittableRandom random, int length) {
        int[] points = ALPHABET.codePoints().toArray();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            sb.appendCodePoint(points[random.nextInt(points.length)]);
        }
        return sb.toString();
    }

    private static List<String> corpus() throws IOException {
        List<String> texts = new ArrayList<>();
        Path shared = Path.of(System.getenv().getOrDefault("KILN_SHARED", "../../shared"));
        Path vectors = shared.resolve("data/tokenizer_vectors.jsonl");
        if (Files.exists(vectors)) {
            for (String line : Files.readAllLines(vectors)) {
                Object parsed = dev.kiln.api.io.Json.parse(line, "vectors");
                texts.add(BpeTokenizer.replaceLoneSurrogates((String) ((java.util.Map<?, ?>) parsed).get("text")));
            }
        }
        Path shakespeare = shared.resolve("data/tinyshakespeare.txt");
        if (Files.exists(shakespeare)) {
            texts.add(Files.readString(shakespeare).substring(0, 200_000));
        }
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < 3000; i++) {
            texts.add(randomText(random, 1 + random.nextInt(40)));
        }
        texts.addAll(List.of("", " ", "  ", "a", "'s", "'S", "'ſ", "'LL", "'Ve", "' ll", "x  ", "x \n\n y", " \n",
                "\r\n\r\n", "hello  world", "1234567", "a1b22c333", " ...\n\n", "(word", "\twhat"));
        return texts;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "cl100k"})
    void theScannerMatchesTheRegularExpressionPieceForPiece(String name) throws IOException {
        String pattern = name.equals("gpt2") ? SplitPatterns.GPT2 : SplitPatterns.CL100K;
        PreTokenizer scanner = PreTokenizer.of(pattern);
        PreTokenizer regex = new PreTokenizer.Regex(BpeTokenizer.compile(pattern));
        assertEquals(name.equals("gpt2") ? PreTokenizer.Gpt2.class : PreTokenizer.Cl100k.class, scanner.getClass());
        for (String text : corpus()) {
            assertEquals(pieces(regex, text), pieces(scanner, text), () -> "text: " + text.codePoints()
                    .mapToObj(cp -> String.format("U+%04X", cp)).toList());
        }
    }
}
