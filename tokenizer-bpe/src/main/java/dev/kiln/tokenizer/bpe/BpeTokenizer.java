package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Byte-level BPE with tiktoken's semantics: the text is split by a regular expression, each piece is encoded to
 * UTF-8, and a piece that is not itself a token is merged pair by pair, lowest rank first. Token ids are ranks.
 */
public final class BpeTokenizer implements Tokenizer {
    private final RankTable ranks;
    private final byte[][] tokenBytes;
    private final Map<String, Integer> special;
    private final PreTokenizer split;
    private final String patternSource;

    /**
     * @param tokens  every mergeable token's bytes, indexed by rank (id); null for holes
     * @param pattern the pre-tokenizer in tiktoken's (Rust regex) syntax, or null to treat the text as one piece
     */
    public BpeTokenizer(byte[][] tokens, Map<String, Integer> specialTokens, String pattern) {
        this.ranks = new RankTable(tokens.length);
        int size = tokens.length;
        for (int id : specialTokens.values()) {
            size = Math.max(size, id + 1);
        }
        this.tokenBytes = Arrays.copyOf(tokens, size);
        for (int id = 0; id < tokens.length; id++) {
            if (tokens[id] != null && !ranks.put(tokens[id], id)) {
                throw new KilnException("bpe: token " + id + " repeats the bytes of an earlier token");
            }
        }
        this.special = Collections.unmodifiableMap(new LinkedHashMap<>(specialTokens));
        special.forEach((text, id) -> tokenBytes[id] = text.getBytes(StandardCharsets.UTF_8));
        this.patternSource = pattern;
        this.split = pattern == null ? null : PreTokenizer.of(pattern);
    }

    /**
     * Compiles a tiktoken pattern for java.util.regex: Unicode character classes (so \s and case folding follow
     * Unicode, as Rust's regex does), and {@code $} outside character classes as {@code \z} — in Java it would also
     * match before a final line break.
     */
    static Pattern compile(String pattern) {
        StringBuilder java = new StringBuilder();
        boolean inClass = false;
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c == '\\' && i + 1 < pattern.length()) {
                java.append(c).append(pattern.charAt(++i));
            } else if (c == '[') {
                inClass = true;
                java.append(c);
            } else if (c == ']') {
                inClass = false;
                java.append(c);
            } else if (c == '$' && !inClass) {
                java.append("\\z");
            } else {
                java.append(c);
            }
        }
        return Pattern.compile(java.toString(), Pattern.UNICODE_CHARACTER_CLASS);
    }

    @Override
    public String id() {
        return BpeTokenizerProvider.ID;
    }

    @Override
    public int vocabSize() {
        return tokenBytes.length;
    }

    @Override
    public Tokenizer withSpecialTokens(List<String> tokens) {
        Map<String, Integer> grown = new LinkedHashMap<>(special);
        int next = tokenBytes.length;
        for (String token : tokens) {
            if (token.isEmpty()) {
                throw new KilnException("bpe: a special token cannot be empty");
            }
            if (!grown.containsKey(token)) {
                grown.put(token, next++);
            }
        }
        if (grown.size() == special.size()) {
            return this;
        }
        byte[][] mergeable = tokenBytes.clone();
        special.values().forEach(id -> mergeable[id] = null);
        return new BpeTokenizer(mergeable, grown, patternSource);
    }

    /** Writes a Hugging Face tokenizer.json. */
    @Override
    public void save(Path file) {
        HuggingFaceFiles.writeTokenizerJson(this, file);
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return special;
    }

    public String pattern() {
        return patternSource;
    }

    /** The bytes of one token. */
    public byte[] bytes(int id) {
        if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
            throw new KilnException("bpe: no token with id " + id + " (vocabulary of " + tokenBytes.length + ")");
        }
        return tokenBytes[id].clone();
    }

    /** Whether id is an ordinary (byte-level) token rather than a special one or a hole. */
    public boolean isMergeable(int id) {
        return id >= 0 && id < tokenBytes.length && tokenBytes[id] != null && !special.containsValue(id)
                && ranks.get(tokenBytes[id], 0, tokenBytes[id].length) == id;
    }

    /** The two tokens whose merge made token id: its bytes encoded with only the merges ranked below it. */
    public int[] mergeOf(int id) {
        byte[] bytes = bytes(id);
        IntBuffer parts = new IntBuffer(2);
        encodePiece(bytes, id, parts);
        int[] pair = parts.toArray();
        if (pair.length != 2) {
            throw new KilnException("bpe: token " + id + " is not the merge of two lower-ranked tokens");
        }
        return pair;
    }

    @Override
    public int[] encode(String text, Set<String> allowedSpecial) {
        for (String s : allowedSpecial) {
            if (!special.containsKey(s)) {
                throw new KilnException("bpe: '" + s + "' is not a special token of this vocabulary; its special tokens: "
                        + special.keySet());
            }
        }
        String clean = replaceLoneSurrogates(text);
        IntBuffer out = new IntBuffer(clean.length() / 3 + 8);
        if (allowedSpecial.isEmpty()) {
            encodeOrdinary(clean, out);
            return out.toArray();
        }
        Pattern specials = Pattern.compile(allowedSpecial.stream().sorted((a, b) -> b.length() - a.length())
                .map(Pattern::quote).collect(Collectors.joining("|")));
        Matcher m = specials.matcher(clean);
        int start = 0;
        while (m.find()) {
            encodeOrdinary(clean.substring(start, m.start()), out);
            out.add(special.get(m.group()));
            start = m.end();
        }
        encodeOrdinary(clean.substring(start), out);
        return out.toArray();
    }

    /** tiktoken encodes lone surrogates as U+FFFD: replace them before splitting, as it does. */
    static String replaceLoneSurrogates(String text) {
        StringBuilder sb = null;
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            boolean pair = Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1));
            boolean lone = !pair && Character.isSurrogate(c);
            int width = pair ? 2 : 1;
            if (lone && sb == null) {
                sb = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (sb != null) {
                if (lone) {
                    sb.append('\uFFFD');
                } else {
                    sb.append(text, i, i + width);
                }
            }
            i += width;
        }
        return sb == null ? text : sb.toString();
    }

    private void encodeOrdinary(String text, IntBuffer out) {
        if (text.isEmpty()) {
            return;
        }
        if (split == null) {
            encodePiece(text.getBytes(StandardCharsets.UTF_8), out);
            return;
        }
        Utf8 scratch = new Utf8();
        split.split(text, (start, end) -> {
            int length = scratch.encode(text, start, end);
            int whole = ranks.get(scratch.bytes, 0, length);
            if (whole >= 0) {
                out.add(whole);                          // most pieces are one token: no array for them
            } else {
                encodePiece(java.util.Arrays.copyOf(scratch.bytes, length), out);
            }
        });
    }

    /** A reusable UTF-8 encoding of one piece (lone surrogates were replaced before splitting). */
    private static final class Utf8 {
        byte[] bytes = new byte[64];

        int encode(String text, int start, int end) {
            if (bytes.length < 3 * (end - start)) {
                bytes = new byte[3 * (end - start)];
            }
            int n = 0;
            for (int i = start; i < end; i++) {
                char c = text.charAt(i);
                if (c < 0x80) {
                    bytes[n++] = (byte) c;
                } else if (c < 0x800) {
                    bytes[n++] = (byte) (0xC0 | c >> 6);
                    bytes[n++] = (byte) (0x80 | c & 0x3F);
                } else if (Character.isHighSurrogate(c) && i + 1 < end) {
                    int cp = Character.toCodePoint(c, text.charAt(++i));
                    bytes[n++] = (byte) (0xF0 | cp >> 18);
                    bytes[n++] = (byte) (0x80 | cp >> 12 & 0x3F);
                    bytes[n++] = (byte) (0x80 | cp >> 6 & 0x3F);
                    bytes[n++] = (byte) (0x80 | cp & 0x3F);
                } else {
                    bytes[n++] = (byte) (0xE0 | c >> 12);
                    bytes[n++] = (byte) (0x80 | c >> 6 & 0x3F);
                    bytes[n++] = (byte) (0x80 | c & 0x3F);
                }
            }
            return n;
        }
    }

    private void encodePiece(byte[] piece, IntBuffer out) {
        encodePiece(piece, Integer.MAX_VALUE, out);
    }

    /**
     * One piece: a whole token if it is one, else merged pair by pair, lowest rank first (tiktoken's rule), using only
     * the tokens ranked below {@code rankLimit}.
     */
    private void encodePiece(byte[] piece, int rankLimit, IntBuffer out) {
        int whole = ranks.get(piece, 0, piece.length);
        if (whole >= 0 && whole < rankLimit) {
            out.add(whole);
            return;
        }
        int n = piece.length;
        int[] starts = new int[n + 1];            // part boundaries; parts are [starts[i], starts[i+1])
        int[] pairRank = new int[n];              // rank of parts i and i + 1 merged, or MAX
        for (int i = 0; i <= n; i++) {
            starts[i] = i;
        }
        int parts = n;
        for (int i = 0; i < parts - 1; i++) {
            pairRank[i] = rankOf(piece, starts[i], starts[i + 2], rankLimit);
        }
        while (parts > 1) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i < parts - 1; i++) {
                if (pairRank[i] < bestRank) {
                    bestRank = pairRank[i];
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            // merge parts best and best + 1: drop boundary best + 1
            System.arraycopy(starts, best + 2, starts, best + 1, parts - best - 1);
            System.arraycopy(pairRank, best + 1, pairRank, best, parts - best - 2);
            parts--;
            if (best < parts - 1) {
                pairRank[best] = rankOf(piece, starts[best], starts[best + 2], rankLimit);
            }
            if (best > 0) {
                pairRank[best - 1] = rankOf(piece, starts[best - 1], starts[best + 1], rankLimit);
            }
        }
        for (int i = 0; i < parts; i++) {
            int id = ranks.get(piece, starts[i], starts[i + 1]);
            if (id < 0) {
                throw new KilnException("bpe: the bytes " + Arrays.toString(Arrays.copyOfRange(piece, starts[i],
                        starts[i + 1])) + " have no token (the vocabulary lacks single bytes)");
            }
            out.add(id);
        }
    }

    private int rankOf(byte[] piece, int from, int to, int rankLimit) {
        int rank = ranks.get(piece, from, to);
        return rank < 0 || rank >= rankLimit ? Integer.MAX_VALUE : rank;
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
                throw new KilnException("bpe: no token with id " + id + " (vocabulary of " + tokenBytes.length + ")");
            }
            out.writeBytes(tokenBytes[id]);
        }
        return out.toByteArray();
    }

    /** A growable int array. */
    private static final class IntBuffer {
        private int[] data;
        private int size;

        IntBuffer(int capacity) {
            data = new int[Math.max(4, capacity)];
        }

        void add(int value) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = value;
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
