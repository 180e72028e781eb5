package dev.kiln.cli;

import dev.kiln.api.ConfigException;
import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.trainer.Plugins;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code kiln}: the entry point. Subcommands do the work; this class holds what they share — where plugins come from,
 * the output streams, and how errors are shown (one line, a stack trace only with {@code --verbose}).
 */
@Command(name = "kiln", mixinStandardHelpOptions = true, versionProvider = Kiln.Version.class,
        description = "Train, evaluate, sample and compare small language models.",
        subcommands = {TrainCommand.class, GenerateCommand.class, EvalCommand.class, MergeCommand.class,
                ChatCommand.class, ServeCommand.class, TokenizerCommand.class, CacheCommand.class,
                PluginsCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Kiln implements Callable<Integer> {
    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Show stack traces with errors.")
    boolean verbose;

    @Option(names = "--plugin-path", scope = CommandLine.ScopeType.INHERIT, paramLabel = "DIR",
            description = "A folder of plugin jars to load beside the built-in ones (default: plugins/ under "
                    + "KILN_HOME, else under the current directory, when it exists).")
    Path pluginPath;

    PrintWriter out;
    PrintWriter err;
    private final ModuleLayer baseLayer;
    private Plugins plugins;

    Kiln(PrintWriter out, PrintWriter err, ModuleLayer baseLayer) {
        this.out = out;
        this.err = err;
        this.baseLayer = baseLayer;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(args, out, err);
        out.flush();
        err.flush();
        if (!Interruption.shuttingDown()) {
            System.exit(code);
        }
    }

    /** Runs one command line and returns its exit code: 0 success, 1 an error, 2 a usage mistake. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        Module self = Kiln.class.getModule();
        ModuleLayer base = self.isNamed() && self.getLayer() != null ? self.getLayer() : ModuleLayer.boot();
        Kiln kiln = new Kiln(out, err, base);
        CommandLine commandLine = new CommandLine(kiln);
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        commandLine.setExecutionExceptionHandler((exception, line, parsed) -> {
            String exhausted = exhausted(exception);
            String message = exhausted != null ? exhausted
                    : exception instanceof KilnException ? exception.getMessage()
                    : exception.getClass().getSimpleName() + (exception.getMessage() == null ? ""
                    : ": " + exception.getMessage());
            err.println("kiln: error: " + message);
            if (kiln.verbose) {
                exception.printStackTrace(err);
            } else if (!(exception instanceof KilnException)) {
                err.println("kiln: (run with --verbose for the stack trace)");
            }
            err.flush();
            return exception instanceof ConfigException ? 2 : 1;          // a config mistake, as a flag mistake
        });
        try {
            return commandLine.execute(args);
        } catch (OutOfMemoryError | StackOverflowError error) {
            err.println("kiln: error: " + exhausted(error));
            if (kiln.verbose) {
                error.printStackTrace(err);
            }
            err.flush();
            return 1;
        }
    }

    /**
     * One line naming the resource a command ran out of and the knob that controls it, when {@code failure} (or one of
     * its causes, for errors thrown on a worker thread) is an OutOfMemoryError or a StackOverflowError; else null.
     */
    static String exhausted(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError) {
                long heap = Runtime.getRuntime().maxMemory() >> 20;
                return "out of memory (" + (t.getMessage() == null ? "Java heap" : t.getMessage()) + ", limit "
                        + heap + " MiB): lower train.batch_size or train.context (or the model's size), or give the JVM "
                        + "more heap with KILN_JAVA_OPTS=-Xmx<size>, for example KILN_JAVA_OPTS=-Xmx" + Math.max(2,
                        2 * heap / 1024) + "g";
            }
            if (t instanceof StackOverflowError) {
                return "the call stack overflowed (a graph or recursion too deep for the thread's stack): lower "
                        + "train.context or the model's depth, or give threads a larger stack with "
                        + "KILN_JAVA_OPTS=-Xss64m";
            }
        }
        return null;
    }

    @Override
    public Integer call() {
        new CommandLine(this).usage(out);
        return 0;
    }

    /** The registries: built-in plugins plus those in the plugin folder, loaded once. */
    Plugins plugins() {
        if (plugins == null) {
            ModuleLayer layer = baseLayer;
            Path folder = pluginFolder();
            if (folder != null) {
                layer = PluginRegistry.pluginLayer(folder, baseLayer);
            }
            plugins = Plugins.load(layer);
        }
        return plugins;
    }

    /** --plugin-path when given (it must exist); else plugins/ under KILN_HOME or the current directory, if there. */
    Path pluginFolder() {
        if (pluginPath != null) {
            if (!Files.isDirectory(pluginPath)) {
                throw new KilnException("--plugin-path " + pluginPath + " is not a directory");
            }
            return pluginPath;
        }
        String home = System.getenv("KILN_HOME");
        Path candidate = home != null ? Path.of(home, "plugins") : Path.of("plugins");
        return Files.isDirectory(candidate) ? candidate : null;
    }

    /** The version recorded in this module's descriptor. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"kiln " + Kiln.class.getModule().getDescriptor().rawVersion().orElse("(unversioned)")};
        }
    }
}
