package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.TextRecord;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The text a run trains on: one UTF-8 file, or every regular file under a directory (sorted by path, hidden files
 * skipped, joined with a newline). A missing, empty or binary file is an error naming it; nothing is guessed.
 *
 * @param name     where it came from, for messages and metrics
 * @param text     the whole corpus
 * @param sha256   the hex digest of the text's UTF-8 bytes: caches are keyed by it
 * @param sources  the files the text was read from, each with the offset where its text starts (one file, or the
 *                 files of a directory joined by newlines), so that a record can name its file and line
 */
public record Corpus(String name, String text, String sha256, List<Source> sources) {

    /** One file of a corpus and the character offset of its first character in {@link #text()}. */
    public record Source(String file, int start) {
    }

    public Corpus {
        sources = List.copyOf(sources);
    }

    /** A corpus held in memory, such as a bundled resource. */
    public static Corpus of(String name, String text) {
        return of(name, text, List.of(new Source(name, 0)));
    }

    private static Corpus of(String name, String text, List<Source> sources) {
        if (text.isEmpty()) {
            throw new KilnException("corpus " + name + " is empty");
        }
        return new Corpus(name, text, sha256(text.getBytes(StandardCharsets.UTF_8)), sources);
    }

    /** Every non-blank line, with its file and 1-based line number in that file. */
    public List<TextRecord> lines() {
        List<TextRecord> records = new ArrayList<>();
        for (int s = 0; s < sources.size(); s++) {
            int start = sources.get(s).start();
            int end = s + 1 < sources.size() ? sources.get(s + 1).start() - 1 : text.length();
            int line = 1;
            int from = start;
            while (from <= end) {
                int newline = text.indexOf('\n', from);
                int to = newline < 0 || newline > end ? end : newline;
                String content = text.substring(from, to);
                if (content.endsWith("\r")) {
                    content = content.substring(0, content.length() - 1);
                }
                if (!content.isBlank()) {
                    records.add(new TextRecord(sources.get(s).file(), line, content));
                }
                line++;
                from = to + 1;
            }
        }
        return records;
    }

    /**
     * The training or validation part of records split by count: the last {@code valFraction} of them (at least one)
     * validate, and at least one trains.
     */
    public static List<TextRecord> split(List<TextRecord> records, double valFraction, Split split) {
        int validation = Math.max(1, (int) Math.round(records.size() * valFraction));
        int cut = Math.min(records.size() - 1, records.size() - validation);
        return split == Split.TRAIN ? records.subList(0, cut) : records.subList(cut, records.size());
    }

    /** Reads a text file or a directory of text files. */
    public static Corpus read(Path path) {
        if (!Files.exists(path)) {
            throw new KilnException("data " + path + " does not exist");
        }
        if (!Files.isDirectory(path)) {
            return of(path.toString(), readText(path), List.of(new Source(path.toString(), 0)));
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(path)) {
            files = walk.filter(Files::isRegularFile)
                    .filter(p -> !isHidden(path.relativize(p)))
                    .sorted().toList();
        } catch (IOException e) {
            throw new KilnException("cannot list data directory " + path + ": " + e.getMessage(), e);
        }
        if (files.isEmpty()) {
            throw new KilnException("data directory " + path + " holds no files");
        }
        StringBuilder text = new StringBuilder();
        List<Source> sources = new ArrayList<>();
        for (Path file : files) {
            if (!text.isEmpty()) {
                text.append('\n');
            }
            sources.add(new Source(file.toString(), text.length()));
            text.append(readText(file));
        }
        return of(path.toString(), text.toString(), sources);
    }

    private static boolean isHidden(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        return false;
    }

    private static String readText(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new KilnException("cannot read data file " + file + ": " + e.getMessage(), e);
        }
        if (bytes.length == 0) {
            throw new KilnException("data file " + file + " is empty");
        }
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                throw new KilnException("data file " + file + " looks binary (a NUL byte at offset " + i
                        + "); Kiln trains on UTF-8 text");
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new KilnException("data file " + file + " is not UTF-8 text (" + e.getMessage() + ")");
        }
    }

    /** The corpus split at a character boundary: the first 1 − valFraction for training, the rest for validation. */
    public String[] split(double valFraction) {
        int cut = (int) Math.round(text.length() * (1 - valFraction));
        if (cut > 0 && cut < text.length() && Character.isLowSurrogate(text.charAt(cut))) {
            cut--;
        }
        if (cut <= 0 || cut >= text.length()) {
            throw new KilnException("corpus " + name + " (" + text.length() + " characters) is too small to hold out "
                    + valFraction + " of it for validation");
        }
        return new String[] {text.substring(0, cut), text.substring(cut)};
    }

    /** The hex SHA-256 of some bytes: what caches are keyed by. */
    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
