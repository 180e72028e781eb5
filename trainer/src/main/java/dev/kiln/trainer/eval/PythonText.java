package dev.kiln.trainer.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's {@code str.split()}, {@code str.rstrip()} and code-point indexing, which sacrebleu's definitions rest on:
 * Python's whitespace (str.isspace) is not Java's (it includes U+00A0, U+2007 and U+202F; Java's does not), and a
 * Python character is a code point, not a UTF-16 unit.
 */
final class PythonText {
    private PythonText() {
    }

    static boolean isSpace(int c) {
        return switch (c) {
            case '\t', '\n', 0x0b, 0x0c, '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f,
                 0x205f, 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200a;
        };
    }

    /** {@code s.split()}: the runs of non-whitespace. */
    static List<String> split(String s) {
        List<String> words = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            if (isSpace(c)) {
                if (start >= 0) {
                    words.add(s.substring(start, i));
                    start = -1;
                }
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(c);
        }
        if (start >= 0) {
            words.add(s.substring(start));
        }
        return words;
    }

    /** {@code ' '.join(s.split())}. */
    static String normalizeSpaces(String s) {
        return String.join(" ", split(s));
    }

    /** {@code s.rstrip()}. */
    static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int c = s.codePointBefore(end);
            if (!isSpace(c)) {
                break;
            }
            end -= Character.charCount(c);
        }
        return s.substring(0, end);
    }

    /** {@code ''.join(s.split())} as code points. */
    static int[] withoutSpaces(String s) {
        return s.codePoints().filter(c -> !isSpace(c)).toArray();
    }
}
