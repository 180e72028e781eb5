package dev.kiln.api.io;

import dev.kiln.api.KilnException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Replacing a file whole or not at all: the content goes to a temporary file beside it, which is then renamed over it.
 * A crash or an error leaves the old file as it was, never half of a new one.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Writes the content of a file to the path it is given. */
    @FunctionalInterface
    public interface Content {
        void writeTo(Path temporary) throws IOException;
    }

    /**
     * Replaces {@code file} with what {@code content} writes (creating its folder). {@code what} names the file in
     * errors, e.g. "token cache".
     */
    public static void replace(Path file, String what, Content content) {
        Path temporary = null;
        try {
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            temporary = Files.createTempFile(parent, "." + file.getFileName(), ".tmp");
            content.writeTo(temporary);
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            temporary = null;
        } catch (IOException e) {
            throw new KilnException("cannot write " + what + " " + file + ": " + e.getMessage(), e);
        } finally {
            if (temporary != null) {
                try {
                    Files.deleteIfExists(temporary);
                } catch (IOException ignored) {
                    // the original error is the one to report
                }
            }
        }
    }

    public static void replace(Path file, String what, byte[] bytes) {
        replace(file, what, temporary -> Files.write(temporary, bytes));
    }

    public static void replace(Path file, String what, String text) {
        replace(file, what, text.getBytes(StandardCharsets.UTF_8));
    }
}
