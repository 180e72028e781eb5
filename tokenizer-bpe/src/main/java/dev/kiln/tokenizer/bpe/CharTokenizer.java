package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One id per character (code point) seen in training, in code-point order, plus id {@code unknown} = the number of
 * characters for anything else (nanoGPT's shakespeare_char, for comparison and teaching). Lossless only for text made
 * of the training characters.
 */
public final class CharTokenizer implements Tokenizer {
    private final int[] codePoints;                  // sorted: id → code point

    private CharTokenizer(int[] codePoints) {
        this.codePoints = codePoints;
    }

    public static CharTokenizer train(String corpus) {
        if (corpus.isEmpty()) {
            throw new KilnException("char: cannot train on an empty corpus");
        }
        TreeSet<Integer> seen = new TreeSet<>();
        corpus.codePoints().forEach(seen::add);
        return new CharTokenizer(seen.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Writes {"kiln_tokenizer": "char", "code_points": [...]}. */
    @Override
    public void save(Path file) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("kiln_tokenizer", "char");
        json.put("code_points", Arrays.stream(codePoints).boxed().toList());
        try {
            Files.writeString(file, Json.write(json));
        } catch (IOException e) {
            throw new KilnException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    public static CharTokenizer load(Path file) {
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new KilnException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> json) || !"char".equals(json.get("kiln_tokenizer"))
                || !(json.get("code_points") instanceof List<?> list)) {
            throw new KilnException(file + " is not a saved char tokenizer (expected kiln_tokenizer: char and code_points)");
        }
        int[] points = new int[list.size()];
        for (int i = 0; i < points.length; i++) {
            if (!(list.get(i) instanceof Long point) || point < 0 || point > Character.MAX_CODE_POINT) {
                throw new KilnException(file + ": code_points[" + i + "] must be a Unicode code point, not "
                        + list.get(i));
            }
            points[i] = (int) (long) point;
        }
        for (int i = 1; i < points.length; i++) {
            if (points[i] <= points[i - 1]) {
                throw new KilnException(file + ": code_points must be strictly increasing (entry " + i + ")");
            }
        }
        return new CharTokenizer(points);
    }

    @Override
    public String id() {
        return CharTokenizerProvider.ID;
    }

    /** The characters seen in training, plus the unknown token. */
    @Override
    public int vocabSize() {
        return codePoints.length + 1;
    }

    public int unknownId() {
        return codePoints.length;
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return Map.of();
    }

    @Override
    public int[] encode(String text, Set<String> allowedSpecial) {
        if (!allowedSpecial.isEmpty()) {
            throw new KilnException("char: has no special tokens, got " + allowedSpecial);
        }
        return text.codePoints().map(cp -> {
            int id = Arrays.binarySearch(codePoints, cp);
            return id >= 0 ? id : unknownId();
        }).toArray();
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            if (id < 0 || id > codePoints.length) {
                throw new KilnException("char: no token with id " + id + " (vocabulary of " + vocabSize() + ")");
            }
            sb.appendCodePoint(id == codePoints.length ? 0xFFFD : codePoints[id]);
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
