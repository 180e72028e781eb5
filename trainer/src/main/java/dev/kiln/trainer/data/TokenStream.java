package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.AtomicFiles;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.api.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A corpus as token ids, split into training and validation streams, memory-mapped from a cache file that is reused
 * while the corpus, the split and the tokenizer are unchanged (the file name is a digest of all three). A cache file
 * that does not read back whole is rebuilt, never trusted.
 */
public final class TokenStream {
    private static final int MAGIC = 0x4B4C4E54; // "KLNT"
    private static final int HEADER_INTS = 4;    // magic, version, train count, validation count

    private final IntBuffer train;
    private final IntBuffer validation;
    private final Path file;
    private final boolean reused;

    private TokenStream(IntBuffer train, IntBuffer validation, Path file, boolean reused) {
        this.train = train;
        this.validation = validation;
        this.file = file;
        this.reused = reused;
    }

    /**
     * The token stream of {@code corpus} under {@code tokenizer} (identified by {@code tokenizerDigest}, a digest of
     * its saved file), from {@code cacheDir} when it is there, else encoded and written there first.
     */
    public static TokenStream load(Corpus corpus, double valFraction, Tokenizer tokenizer, String tokenizerDigest,
                                   Path cacheDir) {
        String key = Corpus.sha256((corpus.sha256() + "|" + valFraction + "|" + tokenizerDigest)
                .getBytes(StandardCharsets.UTF_8));
        Path file = cacheDir.resolve("tokens-" + key.substring(0, 24) + ".bin");
        if (Files.isRegularFile(file)) {
            TokenStream cached = map(file, true);
            if (cached != null) {
                return cached;
            }
        }
        String[] parts = corpus.split(valFraction);
        int[] train = tokenizer.encode(parts[0]);
        int[] validation = tokenizer.encode(parts[1]);
        write(file, train, validation);
        TokenStream written = map(file, false);
        if (written == null) {
            throw new KilnException("token cache " + file + " did not read back after writing it");
        }
        return written;
    }

    private static void write(Path file, int[] train, int[] validation) {
        ByteBuffer bytes = ByteBuffer.allocate((HEADER_INTS + train.length + validation.length) * Integer.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        bytes.putInt(MAGIC).putInt(1).putInt(train.length).putInt(validation.length);
        bytes.asIntBuffer().put(train).put(validation);
        AtomicFiles.replace(file, "token cache", bytes.array());
    }

    /** Maps a cache file, or returns null when it is not a whole, valid one. */
    private static TokenStream map(Path file, boolean reused) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < HEADER_INTS * Integer.BYTES) {
                return null;
            }
            IntBuffer ints = channel.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN)
                    .asIntBuffer();
            int trainCount = ints.get(2);
            int validationCount = ints.get(3);
            if (ints.get(0) != MAGIC || ints.get(1) != 1 || trainCount < 0 || validationCount < 0
                    || size != (HEADER_INTS + (long) trainCount + validationCount) * Integer.BYTES) {
                return null;
            }
            IntBuffer train = ints.slice(HEADER_INTS, trainCount);
            IntBuffer validation = ints.slice(HEADER_INTS + trainCount, validationCount);
            return new TokenStream(train, validation, file, reused);
        } catch (IOException e) {
            return null;
        }
    }

    /** The training tokens (read-only, absolute indexing). */
    /** A split as the task SPI sees it. */
    public TokenSequence tokens(Split split) {
        IntBuffer ids = split == Split.TRAIN ? train : validation;
        return new TokenSequence() {
            @Override
            public int length() {
                return ids.limit();
            }

            @Override
            public int get(int index) {
                return ids.get(index);
            }

            @Override
            public void get(int start, int[] destination, int offset, int count) {
                ids.get(start, destination, offset, count);
            }
        };
    }

    public IntBuffer train() {
        return train;
    }

    /** The validation tokens (read-only, absolute indexing). */
    public IntBuffer validation() {
        return validation;
    }

    public Path file() {
        return file;
    }

    /** Whether the stream came from an existing cache file rather than from encoding the corpus now. */
    public boolean reused() {
        return reused;
    }
}
