package dev.kiln.serve;

import dev.kiln.api.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Turns a stream of byte-level tokens into text that is safe to send: bytes that do not yet form a whole UTF-8
 * character wait for the next token, and text that could be the start of a stop string waits until it is clearly
 * not one. When a stop string completes, the text before it is the last released and {@link #stopped()} is true;
 * the stop string itself is never released.
 */
final class TextAssembler {
    private final Tokenizer tokenizer;
    private final List<String> stops;
    /** The bytes of the last tokens that do not yet form a whole character. */
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private String held = "";
    private boolean stopped;
    private final StringBuilder released = new StringBuilder();

    TextAssembler(Tokenizer tokenizer, List<String> stops) {
        this.tokenizer = tokenizer;
        this.stops = stops;
    }

    /** Adds a token and returns the text it releases (often empty). */
    String add(int token) {
        if (stopped) {
            return "";
        }
        pending.writeBytes(tokenizer.decodeBytes(new int[] {token}));
        byte[] undecoded = pending.toByteArray();                 // at most a character's worth was left over
        int complete = completeUpTo(undecoded);
        String fresh = new String(undecoded, 0, complete, StandardCharsets.UTF_8);
        pending.reset();
        pending.write(undecoded, complete, undecoded.length - complete);
        return release(held + fresh, false);
    }

    /** The sequence ended: everything still held is released (an unfinished character as U+FFFD). */
    String finish() {
        if (stopped) {
            return "";
        }
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return release(held + rest, true);
    }

    boolean stopped() {
        return stopped;
    }

    /** All the text released so far. */
    String text() {
        return released.toString();
    }

    private String release(String pending, boolean end) {
        int at = -1;
        for (String stop : stops) {
            int i = pending.indexOf(stop);
            if (i >= 0 && (at < 0 || i < at)) {
                at = i;
            }
        }
        String out;
        if (at >= 0) {
            stopped = true;
            out = pending.substring(0, at);
            held = "";
        } else {
            int keep = end ? 0 : longestStopPrefixSuffix(pending);
            out = pending.substring(0, pending.length() - keep);
            held = pending.substring(pending.length() - keep);
        }
        released.append(out);
        return out;
    }

    /** The length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int longestStopPrefixSuffix(String text) {
        int best = 0;
        for (String stop : stops) {
            for (int n = Math.min(stop.length() - 1, text.length()); n > best; n--) {
                if (text.regionMatches(text.length() - n, stop, 0, n)) {
                    best = n;
                    break;
                }
            }
        }
        return best;
    }

    /** How many leading bytes form whole UTF-8 characters (a character cut short at the end waits). */
    static int completeUpTo(byte[] all) {
        int end = all.length;
        for (int back = 1; back <= Math.min(3, end); back++) {
            int b = all[end - back] & 0xff;
            if ((b & 0xc0) == 0x80) {
                continue;                                         // a continuation byte: look further back
            }
            int length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
            return length > back ? end - back : end;
        }
        return end;
    }
}
