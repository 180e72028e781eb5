package dev.kiln.trainer;

import dev.kiln.api.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns generated tokens into text as they come. A byte-level token can end in the middle of a UTF-8 character, so
 * bytes are held back until they complete one; {@link #flush()} gives what is left (invalid bytes as U+FFFD).
 */
public final class TokenTextStream {
    private final Tokenizer tokenizer;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    public TokenTextStream(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** The text that {@code token} completes (possibly empty). */
    public String accept(int token) {
        pending.writeBytes(tokenizer.decodeBytes(new int[] {token}));
        byte[] bytes = pending.toByteArray();
        int complete = completePrefix(bytes);
        pending.reset();
        pending.write(bytes, complete, bytes.length - complete);
        return new String(bytes, 0, complete, StandardCharsets.UTF_8);
    }

    public String flush() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    /** The length of the longest prefix that does not end inside a (possibly valid) multi-byte character. */
    static int completePrefix(byte[] bytes) {
        int n = bytes.length;
        for (int back = 1; back <= Math.min(3, n); back++) {
            int b = bytes[n - back] & 0xFF;
            if ((b & 0xC0) != 0x80) {              // a lead byte or ASCII
                int needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
                return needed > back ? n - back : n;
            }
        }
        return n;
    }
}
