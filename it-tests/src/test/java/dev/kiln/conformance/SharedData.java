package dev.kiln.conformance;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the shared test material lives: KILN_FIXTURES / KILN_SHARED, else ../shared beside the repository. */
final class SharedData {
    private SharedData() {
    }

    static Path shared() {
        String env = System.getenv("KILN_SHARED");
        if (env != null && Files.isDirectory(Path.of(env))) {
            return Path.of(env);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolveSibling("shared");
            if (Files.isDirectory(candidate.resolve("fixtures"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("cannot find the shared test material; set KILN_SHARED");
    }

    static Path fixtures() {
        String env = System.getenv("KILN_FIXTURES");
        return env != null ? Path.of(env) : shared().resolve("fixtures");
    }
}
