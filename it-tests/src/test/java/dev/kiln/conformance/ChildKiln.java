package dev.kiln.conformance;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The built kiln in a child JVM, as the launcher runs it: for tests that kill it, or start it under mpirun. */
final class ChildKiln {
    private ChildKiln() {
    }

    /** java, Kiln's JVM flags and the cli module on the built app's module path, then {@code args}. */
    static List<String> command(List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(System.getProperty("kiln.jvm.flags").trim().split("\\s+")));
        command.addAll(List.of("--module-path", Path.of(System.getProperty("kiln.cli.app")).resolve("lib").toString(),
                "-m", "dev.kiln.cli/dev.kiln.cli.Kiln"));
        command.addAll(args);
        return command;
    }
}
