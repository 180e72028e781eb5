package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where trained tokenizers and token streams are kept between runs: {@code data.cache} when set, else a Kiln folder
 * in the user's cache directory as the XDG convention has it ({@code $XDG_CACHE_HOME/kiln}, by default
 * {@code ~/.cache/kiln}). Everything in it can be rebuilt, so clearing it loses only time; {@link #clear} removes
 * only the files Kiln writes there, so pointing it at the wrong folder deletes nothing else.
 */
public final class CacheDirectory {
    /** Kiln's cache entries: trained tokenizers, token streams, their temporary files, and the ranks' folders. */
    private static final Pattern KILN_FILE = Pattern.compile("\\.?(tokenizer-|tokens-)[0-9a-f]+\\.(json|bin)"
            + "([0-9]*\\.tmp)?");
    private static final Pattern RANK_FOLDER = Pattern.compile("rank-[0-9]+");

    private CacheDirectory() {
    }

    /** The default location for this process's environment. */
    public static Path defaultLocation() {
        return defaultLocation(System.getenv(), System.getProperty("user.home"));
    }

    /** {@code $XDG_CACHE_HOME/kiln} when that is an absolute path (the spec ignores relative ones), else HOME's. */
    public static Path defaultLocation(Map<String, String> environment, String userHome) {
        String xdg = environment.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
            return Path.of(xdg, "kiln");
        }
        if (userHome == null || userHome.isEmpty()) {
            throw new KilnException("no cache directory: neither XDG_CACHE_HOME nor a home directory is set; set "
                    + "data.cache to a folder for token caches");
        }
        return Path.of(userHome, ".cache", "kiln");
    }

    /** How much a cache folder holds: Kiln's entries only. */
    public record Usage(int files, long bytes) {
    }

    public static Usage usage(Path directory) {
        long bytes = 0;
        List<Path> entries = entries(directory);
        for (Path file : entries) {
            try {
                bytes += Files.size(file);
            } catch (IOException e) {
                // removed meanwhile: not counted
            }
        }
        return new Usage(entries.size(), bytes);
    }

    /** Deletes Kiln's entries (and then empty rank folders) and returns what they held. */
    public static Usage clear(Path directory) {
        Usage before = usage(directory);
        for (Path file : entries(directory)) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new KilnException("cannot delete " + file + ": " + e.getMessage(), e);
            }
        }
        for (Path rank : rankFolders(directory)) {
            try (Stream<Path> left = Files.list(rank)) {
                if (left.findAny().isEmpty()) {
                    Files.delete(rank);
                }
            } catch (IOException e) {
                throw new KilnException("cannot delete " + rank + ": " + e.getMessage(), e);
            }
        }
        return before;
    }

    private static List<Path> entries(Path directory) {
        List<Path> entries = new ArrayList<>(kilnFiles(directory));
        for (Path rank : rankFolders(directory)) {
            entries.addAll(kilnFiles(rank));
        }
        return entries;
    }

    private static List<Path> kilnFiles(Path directory) {
        return list(directory).stream().filter(Files::isRegularFile)
                .filter(p -> KILN_FILE.matcher(p.getFileName().toString()).matches()).toList();
    }

    private static List<Path> rankFolders(Path directory) {
        return list(directory).stream().filter(Files::isDirectory)
                .filter(p -> RANK_FOLDER.matcher(p.getFileName().toString()).matches()).toList();
    }

    private static List<Path> list(Path directory) {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(directory)) {
            return list.sorted(Comparator.naturalOrder()).toList();
        } catch (IOException e) {
            throw new KilnException("cannot list the cache " + directory + ": " + e.getMessage(), e);
        }
    }
}
