package dev.kiln.tokenizer.bpe;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the pieces BPE encodes one by one. GPT-2's and cl100k's patterns are scanned by hand: the same
 * pieces as the regular expressions (differential test over the tokenizer vectors, Shakespeare and random Unicode),
 * without a backtracking regex engine in the hot loop. Any other pattern runs through {@code java.util.regex}.
 */
abstract class PreTokenizer {
    /** Receives each piece as [start, end) of the text, in order. */
    interface Pieces {
        void piece(int start, int end);
    }

    abstract void split(String text, Pieces pieces);

    static PreTokenizer of(String pattern) {
        if (SplitPatterns.GPT2.equals(pattern)) {
            return new Gpt2();
        }
        if (SplitPatterns.CL100K.equals(pattern)) {
            return new Cl100k();
        }
        return new Regex(BpeTokenizer.compile(pattern));
    }

    /**
     * Any pattern, through java.util.regex. The text between two matches (which a custom pattern such as
     * {@code \p{L}+} leaves) is a piece too, so that no pattern loses text; tiktoken's patterns match everywhere and
     * leave none.
     */
    static final class Regex extends PreTokenizer {
        private final Pattern pattern;

        Regex(Pattern pattern) {
            this.pattern = pattern;
        }

        @Override
        void split(String text, Pieces pieces) {
            Matcher m = pattern.matcher(text);
            int covered = 0;
            while (m.find()) {
                if (m.start() > covered) {
                    pieces.piece(covered, m.start());
                }
                if (m.end() > m.start()) {
                    pieces.piece(m.start(), m.end());
                }
                covered = Math.max(covered, m.end());
            }
            if (covered < text.length()) {
                pieces.piece(covered, text.length());
            }
        }
    }

    /** A pattern whose alternatives match at every position, so that its pieces tile the text: one scan, no search. */
    abstract static class Scanner extends PreTokenizer {
        @Override
        final void split(String text, Pieces pieces) {
            int n = text.length();
            int i = 0;
            while (i < n) {
                int end = next(text, i, n);
                pieces.piece(i, end);
                i = end;
            }
        }

        /** The end of the piece that starts at i. */
        abstract int next(String text, int i, int n);
    }

    /** {@code '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++\z|\s+(?!\S)|\s}. */
    static final class Gpt2 extends Scanner {
        @Override
        int next(String text, int i, int n) {
            char c = text.charAt(i);
            if (c == '\'') {
                int contraction = contraction(text, i, n, false);
                if (contraction > 0) {
                    return contraction;
                }
            }
            int body = c == ' ' && i + 1 < n ? i + 1 : i;       // the optional leading space of the next three
            int cp = text.codePointAt(body);
            if (body > i || !isWhiteSpace(cp)) {
                int kind = kind(cp);
                if (body == i || kind != SPACE) {
                    return run(text, body, n, kind);
                }
            }
            // whitespace at i
            int q = i;
            while (q < n && isWhiteSpace(text.codePointAt(q))) {
                q += Character.charCount(text.codePointAt(q));
            }
            if (q == n) {
                return n;                                        // \s++\z
            }
            int last = previousStart(text, q);
            if (last > i) {
                return last;                                     // \s+(?!\S): all but the last whitespace character
            }
            return i + Character.charCount(text.codePointAt(i)); // \s
        }
    }

    /**
     * {@code '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++\z
     * |\s*[\r\n]|\s+(?!\S)|\s}.
     */
    static final class Cl100k extends Scanner {
        @Override
        int next(String text, int i, int n) {
            int cp = text.codePointAt(i);
            int width = Character.charCount(cp);
            if (cp == '\'') {
                int contraction = contraction(text, i, n, true);
                if (contraction > 0) {
                    return contraction;
                }
            }
            int kind = kind(cp);
            // [^\r\n\p{L}\p{N}]?+\p{L}++
            if (kind == LETTER) {
                return run(text, i, n, LETTER);
            }
            if (kind != NUMBER && cp != '\r' && cp != '\n' && i + width < n
                    && kind(text.codePointAt(i + width)) == LETTER) {
                return run(text, i + width, n, LETTER);
            }
            // \p{N}{1,3}+
            if (kind == NUMBER) {
                int end = i + width;
                for (int count = 1; count < 3 && end < n && kind(text.codePointAt(end)) == NUMBER; count++) {
                    end += Character.charCount(text.codePointAt(end));
                }
                return end;
            }
            //  ?[^\s\p{L}\p{N}]++[\r\n]*+
            int body = cp == ' ' && i + 1 < n ? i + 1 : i;
            if (kind(text.codePointAt(body)) == OTHER && (body > i || kind == OTHER)) {
                int end = run(text, body, n, OTHER);
                while (end < n && (text.charAt(end) == '\r' || text.charAt(end) == '\n')) {
                    end++;
                }
                return end;
            }
            // whitespace at i
            int q = i;
            int lastLineBreak = -1;
            while (q < n) {
                int w = text.codePointAt(q);
                if (!isWhiteSpace(w)) {
                    break;
                }
                if (w == '\r' || w == '\n') {
                    lastLineBreak = q;
                }
                q += Character.charCount(w);
            }
            if (q == n) {
                return n;                                        // \s++\z
            }
            if (lastLineBreak >= 0) {
                return lastLineBreak + 1;                        // \s*[\r\n]
            }
            int last = previousStart(text, q);
            if (last > i) {
                return last;                                     // \s+(?!\S)
            }
            return i + width;                                    // \s
        }
    }

    private static final int LETTER = 0;
    private static final int NUMBER = 1;
    private static final int SPACE = 2;
    private static final int OTHER = 3;

    /** \p{L}, \p{N}, \s (Unicode White_Space, as UNICODE_CHARACTER_CLASS defines it) or anything else. */
    static int kind(int cp) {
        if (cp < 128) {
            if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
                return LETTER;
            }
            if (cp >= '0' && cp <= '9') {
                return NUMBER;
            }
            return isWhiteSpace(cp) ? SPACE : OTHER;
        }
        if (Character.isLetter(cp)) {
            return LETTER;
        }
        int type = Character.getType(cp);
        if (type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER) {
            return NUMBER;
        }
        return isWhiteSpace(cp) ? SPACE : OTHER;
    }

    /** Unicode's White_Space property: what {@code \s} means under UNICODE_CHARACTER_CLASS. */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /** The end of the run of code points of {@code kind} starting at {@code from} (possessive: all of them). */
    private static int run(String text, int from, int n, int kind) {
        int end = from;
        while (end < n) {
            int cp = text.codePointAt(end);
            if (kind(cp) != kind) {
                break;
            }
            end += Character.charCount(cp);
        }
        return end;
    }

    /** The start of the code point that ends at {@code end}. */
    private static int previousStart(String text, int end) {
        return end - Character.charCount(text.codePointBefore(end));
    }

    /** {@code '(?:[sdmt]|ll|ve|re)} at i (optionally ignoring case, Unicode-aware): its end, or -1. */
    private static int contraction(String text, int i, int n, boolean ignoreCase) {
        if (i + 1 >= n) {
            return -1;
        }
        int a = text.codePointAt(i + 1);
        for (char c : new char[] {'s', 'd', 'm', 't'}) {
            if (same(a, c, ignoreCase)) {
                return i + 1 + Character.charCount(a);
            }
        }
        int next = i + 1 + Character.charCount(a);
        if (next >= n) {
            return -1;
        }
        int b = text.codePointAt(next);
        int end = next + Character.charCount(b);
        if ((same(a, 'l', ignoreCase) && same(b, 'l', ignoreCase)) || (same(a, 'v', ignoreCase)
                && same(b, 'e', ignoreCase)) || (same(a, 'r', ignoreCase) && same(b, 'e', ignoreCase))) {
            return end;
        }
        return -1;
    }

    /** Java's case-insensitive match of one code point under UNICODE_CASE (so ſ matches s, as in Rust's regex). */
    private static boolean same(int cp, char c, boolean ignoreCase) {
        if (cp == c) {
            return true;
        }
        return ignoreCase && (Character.toUpperCase(cp) == Character.toUpperCase(c)
                || Character.toLowerCase(cp) == Character.toLowerCase(c));
    }
}
