package dev.kiln.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** One scratch directory per fuzzing JVM: each input is written to a file there, because the parsers read files. */
final class FuzzFiles {
    private static final Path DIRECTORY = create();

    private FuzzFiles() {
    }

    private static Path create() {
        try {
            Path directory = Files.createTempDirectory("kiln-fuzz");
            directory.toFile().deleteOnExit();
            return directory;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code bytes} as the file {@code name} in the scratch directory, replacing the previous input. */
    static Path write(String name, byte[] bytes) {
        try {
            return Files.write(DIRECTORY.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
