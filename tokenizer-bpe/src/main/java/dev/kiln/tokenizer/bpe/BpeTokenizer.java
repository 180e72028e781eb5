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
    /** The longest mergeable token: a pair spanning more bytes cannot be one, so it is not looked up. */
    private final int longestToken;
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
        int longest = 1;
        for (byte[] token : tokens) {
            longest = token == null ? longest : Math.max(longest, token.length);
        }
        this.longestToken = longest;
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
        try {
            return Pattern.compile(java.toString(), Pattern.UNICODE_CHARACTER_CLASS);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw new KilnException("bpe: the split pattern is not a valid regular expression ("
                    + e.getDescription() + " at index " + e.getIndex() + "): " + pattern);
        }
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
        int whole = piece.length > longestToken ? -1 : ranks.get(piece, 0, piece.length);
        if (whole >= 0 && whole < rankLimit) {
            out.add(whole);
            return;
        }
        if (piece.length > LONG_PIECE) {
            encodeLongPiece(piece, rankLimit, out);
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
        if (to - from > longestToken) {
            return Integer.MAX_VALUE;
        }
        int rank = ranks.get(piece, from, to);
        return rank < 0 || rank >= rankLimit ? Integer.MAX_VALUE : rank;
    }

    /** Pieces longer than this merge through a heap: the scan above is quadratic in the piece's length. */
    static final int LONG_PIECE = 64;

    /**
     * The same merges as {@link #encodePiece} in O(n log n): the parts are a linked list over the piece, and a heap
     * holds every adjacent pair by (rank, start), so the pair merged next is the lowest-ranked and, among equals, the
     * leftmost — the scan's choice. An entry whose pair has changed since it was pushed is skipped when popped.
     */
    private void encodeLongPiece(byte[] piece, int rankLimit, IntBuffer out) {
        int n = piece.length;
        int[] next = new int[n];                  // the part starting at i ends at next[i]
        int[] previous = new int[n];
        int[] pairRank = new int[n];              // rank of the part at i merged with the one after it, or MAX
        boolean[] gone = new boolean[n];          // i no longer starts a part
        long[] heap = new long[3 * n];            // n − 1 pairs at first, at most two more per merge
        int size = 0;
        for (int i = 0; i < n; i++) {
            next[i] = i + 1;
            previous[i] = i - 1;
        }
        for (int i = 0; i + 1 < n; i++) {
            pairRank[i] = rankOf(piece, i, i + 2, rankLimit);
            if (pairRank[i] != Integer.MAX_VALUE) {
                size = push(heap, size, ((long) pairRank[i] << 32) | i);
            }
        }
        pairRank[n - 1] = Integer.MAX_VALUE;
        while (size > 0) {
            long top = heap[0];
            size = pop(heap, size);
            int i = (int) top;
            int rank = (int) (top >>> 32);
            if (gone[i] || pairRank[i] != rank) {
                continue;                                                  // a pair that has changed since
            }
            int j = next[i];                                               // merge part j into part i
            int k = next[j];
            gone[j] = true;
            next[i] = k;
            if (k < n) {
                previous[k] = i;
            }
            pairRank[i] = k < n ? rankOf(piece, i, next[k], rankLimit) : Integer.MAX_VALUE;
            if (pairRank[i] != Integer.MAX_VALUE) {
                size = push(heap, size, ((long) pairRank[i] << 32) | i);
            }
            int p = previous[i];
            if (p >= 0) {
                pairRank[p] = rankOf(piece, p, k, rankLimit);
                if (pairRank[p] != Integer.MAX_VALUE) {
                    size = push(heap, size, ((long) pairRank[p] << 32) | p);
                }
            }
        }
        for (int i = 0; i < n; i = next[i]) {
            int id = ranks.get(piece, i, next[i]);
            if (id < 0) {
                throw new KilnException("bpe: the bytes " + Arrays.toString(Arrays.copyOfRange(piece, i, next[i]))
                        + " have no token (the vocabulary lacks single bytes)");
            }
            out.add(id);
        }
    }

    /** A binary min-heap of longs in {@code heap[0, size)}; returns the new size. */
    private static int push(long[] heap, int size, long value) {
        int at = size;
        heap[at] = value;
        while (at > 0 && heap[(at - 1) >> 1] > heap[at]) {
            long swap = heap[(at - 1) >> 1];
            heap[(at - 1) >> 1] = heap[at];
            heap[at] = swap;
            at = (at - 1) >> 1;
        }
        return size + 1;
    }

    private static int pop(long[] heap, int size) {
        size--;
        heap[0] = heap[size];
        int at = 0;
        while (true) {
            int left = 2 * at + 1;
            int smallest = at;
            if (left < size && heap[left] < heap[smallest]) {
                smallest = left;
            }
            if (left + 1 < size && heap[left + 1] < heap[smallest]) {
                smallest = left + 1;
            }
            if (smallest == at) {
                return size;
            }
            long swap = heap[at];
            heap[at] = heap[smallest];
            heap[smallest] = swap;
            at = smallest;
        }
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
