package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Byte-level BPE vocabularies in GPT-2's original form ({@code encoder.json} + {@code vocab.bpe}) and in Hugging Face's
 * {@code tokenizer.json}; and writing {@code tokenizer.json}. Kiln's tokens are ordered by merge rank: a file is
 * accepted when its ids grow with its merge order (true of GPT-2 and of what Kiln writes), so ids are ranks.
 */
public final class HuggingFaceFiles {
    private HuggingFaceFiles() {
    }

    private static final String GPT2_END_OF_TEXT = "<|endoftext|>";

    /** GPT-2's encoder.json and vocab.bpe (the merges, checked against the ids). */
    public static BpeTokenizer loadGpt2(Path encoderJson, Path vocabBpe) {
        Map<?, ?> encoder = readJsonObject(encoderJson);
        Map<String, Integer> special = new LinkedHashMap<>();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        encoder.forEach((token, id) -> {
            int checked = tokenId(id, "\"" + token + "\"", encoderJson);
            if (GPT2_END_OF_TEXT.equals(token)) {
                special.put((String) token, checked);
            } else {
                vocab.put((String) token, checked);
            }
        });
        List<String[]> merges = new ArrayList<>();
        try {
            List<String> lines = Files.readAllLines(vocabBpe, StandardCharsets.UTF_8);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.startsWith("#version") || line.isBlank()) {
                    continue;
                }
                String[] pair = line.split(" ");
                if (pair.length != 2) {
                    throw new KilnException(vocabBpe + " line " + (i + 1) + ": expected two tokens separated by a space");
                }
                merges.add(pair);
            }
        } catch (IOException e) {
            throw new KilnException("cannot read " + vocabBpe + ": " + e.getMessage(), e);
        }
        return build(vocab, merges, special, SplitPatterns.GPT2, encoderJson + " + " + vocabBpe);
    }

    /**
     * A Hugging Face tokenizer.json with a byte-level BPE model and, when it names one, its normalizer (NFC, NFKC,
     * Lowercase, and the control-character strip Kiln writes).
     */
    public static Tokenizer loadWithNormalizer(Path file) {
        Map<?, ?> json = readJsonObject(file);
        BpeTokenizer tokenizer = loadTokenizerJson(json, file);
        Normalizer normalizer = Normalizer.fromJson(json.get("normalizer"), file);
        return normalizer.steps().isEmpty() ? tokenizer : new NormalizingTokenizer(tokenizer, normalizer);
    }

    /** A Hugging Face tokenizer.json with a byte-level BPE model (its normalizer, if any, is not applied). */
    public static BpeTokenizer loadTokenizerJson(Path file) {
        return loadTokenizerJson(readJsonObject(file), file);
    }

    private static BpeTokenizer loadTokenizerJson(Map<?, ?> json, Path file) {
        if (!(json.get("model") instanceof Map<?, ?> model) || !"BPE".equals(model.get("type"))) {
            throw new KilnException(file + ": not a BPE tokenizer.json (model.type must be BPE)");
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        if (!(model.get("vocab") instanceof Map<?, ?> v)) {
            throw new KilnException(file + ": model.vocab is missing");
        }
        v.forEach((token, id) -> vocab.put((String) token, tokenId(id, "model.vocab[\"" + token + "\"]", file)));
        Map<String, Integer> special = new LinkedHashMap<>();
        if (json.get("added_tokens") instanceof List<?> added) {
            for (int i = 0; i < added.size(); i++) {
                if (!(added.get(i) instanceof Map<?, ?> token) || !(token.get("content") instanceof String content)) {
                    throw new KilnException(file + ": added_tokens[" + i + "] must be an object with a string "
                            + "content");
                }
                if (Boolean.TRUE.equals(token.get("special"))) {
                    special.put(content, tokenId(token.get("id"), "added_tokens[" + i + "].id", file));
                    vocab.remove(content);
                }
            }
        }
        List<String[]> merges = new ArrayList<>();
        if (model.get("merges") instanceof List<?> list) {
            for (Object merge : list) {
                if (merge instanceof String s && s.indexOf(' ') >= 0) {
                    merges.add(s.split(" ", 2));
                } else if (merge instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a
                        && pair.get(1) instanceof String b) {
                    merges.add(new String[] {a, b});
                } else {
                    throw new KilnException(file + ": a merge is neither \"a b\" nor [a, b]: " + merge);
                }
            }
        }
        return build(vocab, merges, special, patternOf(json.get("pre_tokenizer"), file), file.toString());
    }

    /**
     * A JSON object with its keys in the order given. The files Kiln writes are byte-stable from one JVM to the next
     * ({@code Map.of} iterates in an order that changes between runs), so a tokenizer's digest, which keys the token
     * caches, stays the same across resumes.
     */
    static Map<String, Object> ordered(Object... keyValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put((String) keyValues[i], keyValues[i + 1]);
        }
        return map;
    }

    /** Larger ids than this are refused: no vocabulary comes near it, and a table that size would not fit in memory. */
    static final int MAX_TOKEN_ID = 1 << 24;

    /** A token id read from a file: a whole number in [0, {@link #MAX_TOKEN_ID}), or an error naming the field. */
    static int tokenId(Object value, String field, Object file) {
        if (!(value instanceof Long id) || id < 0 || id >= MAX_TOKEN_ID) {
            throw new KilnException(file + ": " + field + " must be a token id, a whole number in [0, " + MAX_TOKEN_ID
                    + "), not " + (value instanceof String text ? "\"" + text + "\"" : String.valueOf(value)));
        }
        return (int) (long) id;
    }

    /** The split pattern a pre_tokenizer describes: ByteLevel(use_regex) is GPT-2's; a Split regex is itself. */
    private static String patternOf(Object preTokenizer, Path file) {
        if (!(preTokenizer instanceof Map<?, ?> p)) {
            return null;
        }
        return switch (String.valueOf(p.get("type"))) {
            case "ByteLevel" -> Boolean.FALSE.equals(p.get("use_regex")) ? null : SplitPatterns.GPT2;
            case "Split" -> p.get("pattern") instanceof Map<?, ?> pattern && pattern.get("Regex") instanceof String regex
                    ? regex : null;
            case "Sequence" -> {
                if (!(p.get("pretokenizers") instanceof List<?> inners)) {
                    throw new KilnException(file + ": pre_tokenizer Sequence needs a list of pretokenizers");
                }
                String found = null;
                for (Object inner : inners) {
                    String pattern = patternOf(inner, file);
                    found = found != null ? found : pattern;
                }
                yield found;
            }
            default -> throw new KilnException(file + ": unsupported pre_tokenizer " + p.get("type"));
        };
    }

    private static BpeTokenizer build(Map<String, Integer> vocab, List<String[]> merges, Map<String, Integer> special,
                                      String pattern, String source) {
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        byte[][] tokens = new byte[size][];
        vocab.forEach((token, id) -> tokens[id] = ByteLevel.decode(token, source));
        int previous = -1;
        for (int i = 0; i < merges.size(); i++) {
            String merged = merges.get(i)[0] + merges.get(i)[1];
            Integer id = vocab.get(merged);
            if (id == null) {
                throw new KilnException(source + ": merge " + (i + 1) + " makes '" + merged + "', which is not in the vocabulary");
            }
            if (id <= previous) {
                throw new KilnException(source + ": merge " + (i + 1) + " makes id " + id + " after id " + previous
                        + "; only vocabularies whose ids follow their merge order are supported");
            }
            previous = id;
        }
        return new BpeTokenizer(tokens, special, pattern);
    }

    private static Map<?, ?> readJsonObject(Path file) {
        try {
            if (Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString()) instanceof Map<?, ?> map) {
                return map;
            }
            throw new KilnException(file + " is not a JSON object");
        } catch (IOException e) {
            throw new KilnException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes a Hugging Face tokenizer.json (byte-level BPE) that {@link #loadTokenizerJson} reads back identically. */
    public static void writeTokenizerJson(BpeTokenizer tokenizer, Path file) {
        writeTokenizerJson(tokenizer, Normalizer.parse(""), file);
    }

    /** Writes a tokenizer.json whose {@code normalizer} is {@code normalizer}'s steps (null when it has none). */
    public static void writeTokenizerJson(BpeTokenizer tokenizer, Normalizer normalizer, Path file) {
        Map<String, Object> vocab = new LinkedHashMap<>();
        List<Object> merges = new ArrayList<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            if (!tokenizer.isMergeable(id)) {
                continue;
            }
            byte[] bytes = tokenizer.bytes(id);
            vocab.put(ByteLevel.encode(bytes), id);
            if (bytes.length > 1) {
                int[] pair = tokenizer.mergeOf(id);
                merges.add(List.of(ByteLevel.encode(tokenizer.bytes(pair[0])), ByteLevel.encode(tokenizer.bytes(pair[1]))));
            }
        }
        List<Object> added = new ArrayList<>();
        tokenizer.specialTokens().forEach((content, id) -> {
            Map<String, Object> token = new LinkedHashMap<>();
            token.put("id", id);
            token.put("content", content);
            token.put("single_word", false);
            token.put("lstrip", false);
            token.put("rstrip", false);
            token.put("normalized", false);
            token.put("special", true);
            added.add(token);
        });
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", SplitPatterns.GPT2.equals(tokenizer.pattern()));
        Object preTokenizer = byteLevel;
        if (tokenizer.pattern() != null && !SplitPatterns.GPT2.equals(tokenizer.pattern())) {
            Map<String, Object> split = new LinkedHashMap<>();
            split.put("type", "Split");
            split.put("pattern", ordered("Regex", tokenizer.pattern()));
            split.put("behavior", "Isolated");
            split.put("invert", false);
            preTokenizer = ordered("type", "Sequence", "pretokenizers", List.of(split, byteLevel));
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", merges);
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("version", "1.0");
        json.put("truncation", null);
        json.put("padding", null);
        json.put("added_tokens", added);
        json.put("normalizer", normalizer.toJson());
        json.put("pre_tokenizer", preTokenizer);
        json.put("post_processor", null);
        json.put("decoder", ordered("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex",
                true));
        json.put("model", model);
        try {
            Files.writeString(file, Json.write(json), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KilnException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
