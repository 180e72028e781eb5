package dev.kiln.cli;

import dev.kiln.trainer.data.CacheDirectory;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code kiln cache [clear]}: where the token caches are, how big they are, and clearing them. */
@Command(name = "cache", mixinStandardHelpOptions = true,
        description = "Show where trained tokenizers and token streams are cached and their size; 'clear' deletes "
                + "them (they are rebuilt when needed).",
        subcommands = CacheCommand.Clear.class)
final class CacheCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Option(names = "--dir", paramLabel = "DIR", description = "A cache folder named by data.cache (default: "
            + "$XDG_CACHE_HOME/kiln, else ~/.cache/kiln).")
    Path directory;

    Path directory() {
        return directory != null ? directory : CacheDirectory.defaultLocation();
    }

    @Override
    public Integer call() {
        Path where = directory();
        CacheDirectory.Usage usage = CacheDirectory.usage(where);
        kiln.out.println(where.toAbsolutePath() + ": " + usage.files() + " cached file" + (usage.files() == 1 ? "" : "s")
                + ", " + size(usage.bytes()));
        kiln.out.println("(set data.cache to keep a run's caches elsewhere; kiln cache clear deletes them)");
        return 0;
    }

    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }

    @Command(name = "clear", mixinStandardHelpOptions = true,
            description = "Delete the cached tokenizers and token streams (only the files Kiln writes there).")
    static final class Clear implements Callable<Integer> {
        @ParentCommand
        CacheCommand cache;

        @Override
        public Integer call() {
            Path where = cache.directory();
            CacheDirectory.Usage cleared = CacheDirectory.clear(where);
            cache.kiln.out.println("cleared " + where.toAbsolutePath() + ": " + cleared.files() + " file"
                    + (cleared.files() == 1 ? "" : "s") + ", " + size(cleared.bytes()));
            return 0;
        }
    }
}
