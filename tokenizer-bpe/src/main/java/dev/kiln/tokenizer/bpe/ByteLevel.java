package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import java.io.ByteArrayOutputStream;

/**
 * GPT-2's byte ↔ character alphabet ({@code bytes_to_unicode}): printable bytes stand for themselves, the others for
 * the characters from U+0100 on, so every token of a byte-level vocabulary is a printable string in
 * {@code encoder.json}, {@code vocab.bpe} and {@code tokenizer.json}.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    static String encode(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            sb.append(BYTE_TO_CHAR[b & 0xFF]);
        }
        return sb.toString();
    }

    /** The bytes a byte-level token string stands for; a character outside the alphabet is an error naming it. */
    static byte[] decode(String token, String source) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) {
                throw new KilnException(source + ": token '" + token + "' has the character U+"
                        + String.format("%04X", (int) c) + ", which is not in the byte-level alphabet");
            }
            out.write(b);
        }
        return out.toByteArray();
    }
}
