package dev.kiln.trainer.checkpoint;

import dev.kiln.api.KilnException;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.io.Json;
import dev.kiln.api.peft.PeftAdapter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Rank 0's files on every rank of a data-parallel job, so that ranks on machines without a filesystem shared with
 * rank 0 resume (or fine-tune) from the same checkpoint: rank 0 reads the files and broadcasts them, and every other
 * rank writes them under a local folder of its own and reads them from there. Nothing but rank 0's view of the path
 * counts, so a rank that sees another file at the same path (a stale copy) still starts from rank 0's.
 *
 * <p>What is sent is a {@link Plan}: files under relative names, plus the relative name the receivers should open.
 * A LoRA checkpoint's base travels with it (under {@code base/}), and the copy's {@code config.json} names the copied
 * base, whose weights are byte for byte rank 0's, so the digest the adapter recorded still matches.
 */
public final class SharedCheckpoint {
    /** Bytes per broadcast: files of any size go in pieces a {@code byte[]} and MPI's int count can hold. */
    private static final int PIECE = 1 << 26;
    static final String BASE = "base";

    private SharedCheckpoint() {
    }

    /** Files to send, by the relative name each gets on the receiving ranks, and the name they open there. */
    public record Plan(Map<String, Path> files, String open) {
    }

    /** What a rank opens: rank 0's own path, or the folder the files were written under (to delete when done). */
    public record Received(Path path, Path folder) {
    }

    /**
     * The plan for one checkpoint directory as the receivers lay it out: {@code checkpoints/<name>/…} (so that it
     * sits inside a run, as {@link CheckpointStore#runOf} expects) and the base of a LoRA checkpoint as
     * {@code base/…}.
     */
    public static Plan checkpoint(Path directory) {
        Map<String, Path> files = new LinkedHashMap<>();
        String name = directory.getFileName().toString();
        String open = CheckpointStore.FOLDER + "/" + name;
        addTree(directory, open, files);
        Checkpoint opened = Checkpoint.open(directory);
        opened.base().ifPresent(base -> addTree(base, BASE, files));
        return new Plan(files, open);
    }

    /** The plan for single files of a run (its config, when it stopped before its first checkpoint). */
    public static Plan runFiles(Path runDirectory, List<String> names) {
        Map<String, Path> files = new LinkedHashMap<>();
        names.forEach(n -> files.put(n, runDirectory.resolve(n)));
        return new Plan(files, ".");
    }

    private static void addTree(Path root, String prefix, Map<String, Path> files) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.filter(Files::isRegularFile).sorted(Comparator.naturalOrder())
                    .forEach(p -> files.put(prefix + "/" + root.relativize(p).toString().replace('\\', '/'), p));
        } catch (IOException e) {
            throw new KilnException("cannot list " + root + ": " + e.getMessage(), e);
        }
    }

    /**
     * Rank 0 makes the plan (only rank 0 calls {@code plan}) and sends its files; the others receive them into a new
     * folder under {@code localRoot} (made if missing). A plan that fails on rank 0 fails on every rank: rank 0
     * rethrows its error, the others name it.
     */
    public static Received share(Communicator ranks, Supplier<Plan> plan, Path localRoot) {
        if (ranks.rank() == 0) {
            Plan made;
            try {
                made = plan.get();
            } catch (RuntimeException e) {
                sendHeader(ranks, Map.of("error", String.valueOf(e.getMessage())));
                throw e;
            }
            List<Object> entries = new ArrayList<>();
            for (Map.Entry<String, Path> file : made.files().entrySet()) {
                try {
                    entries.add(List.of(file.getKey(), Files.size(file.getValue())));
                } catch (IOException e) {
                    String error = "cannot read " + file.getValue() + ": " + e.getMessage();
                    sendHeader(ranks, Map.of("error", error));
                    throw new KilnException(error, e);
                }
            }
            sendHeader(ranks, Map.of("files", entries, "open", made.open()));
            byte[] piece = new byte[PIECE];
            for (Path file : made.files().values()) {
                try (InputStream in = Files.newInputStream(file)) {
                    for (int n; (n = in.readNBytes(piece, 0, PIECE)) > 0; ) {
                        ranks.broadcast(n == PIECE ? piece : java.util.Arrays.copyOf(piece, n), 0);
                    }
                } catch (IOException e) {
                    // the receivers wait for this file's bytes: the error ends the job (a rank that fails aborts it)
                    throw new KilnException("cannot read " + file + " while sending it to the other ranks: "
                            + e.getMessage(), e);
                }
            }
            return new Received(null, null);
        }
        Map<?, ?> header = receiveHeader(ranks);
        if (header.get("error") != null) {
            throw new KilnException("data parallel: rank 0 could not read the checkpoint (" + header.get("error")
                    + "), so rank " + ranks.rank() + " stops too");
        }
        Path folder;
        try {
            Files.createDirectories(localRoot);
            folder = Files.createTempDirectory(localRoot, "rank-" + ranks.rank() + "-");
        } catch (IOException e) {
            throw new KilnException("rank " + ranks.rank() + ": cannot make a folder under " + localRoot
                    + " for rank 0's checkpoint: " + e.getMessage(), e);
        }
        for (Object entry : (List<?>) header.get("files")) {
            List<?> pair = (List<?>) entry;
            Path target = folder.resolve((String) pair.get(0)).normalize();
            long size = ((Number) pair.get(1)).longValue();
            try {
                Files.createDirectories(target.getParent());
                try (OutputStream out = Files.newOutputStream(target)) {
                    for (long left = size; left > 0; ) {
                        byte[] piece = new byte[(int) Math.min(PIECE, left)];
                        ranks.broadcast(piece, 0);
                        out.write(piece);
                        left -= piece.length;
                    }
                }
            } catch (IOException e) {
                throw new KilnException("rank " + ranks.rank() + ": cannot write " + target + ": " + e.getMessage(), e);
            }
        }
        Path open = folder.resolve((String) header.get("open")).normalize();
        if (Files.isDirectory(folder.resolve(BASE))) {
            pointAtCopiedBase(open.resolve(Checkpoint.CONFIG), folder.resolve(BASE));
        }
        return new Received(open, folder);
    }

    /** The copy of a LoRA checkpoint names the copied base instead of rank 0's path. */
    private static void pointAtCopiedBase(Path config, Path base) {
        try {
            Object parsed = Json.parse(Files.readString(config, StandardCharsets.UTF_8), config.toString());
            if (!(parsed instanceof Map<?, ?> map) || !(map.get("base") instanceof Map<?, ?> recorded)
                    || !Files.isRegularFile(config.resolveSibling(PeftAdapter.CONFIG))) {
                return;
            }
            Map<String, Object> rewritten = new LinkedHashMap<>();
            map.forEach((k, v) -> rewritten.put((String) k, v));
            Map<String, Object> newBase = new LinkedHashMap<>();
            recorded.forEach((k, v) -> newBase.put((String) k, v));
            newBase.put("path", base.toAbsolutePath().normalize().toString());
            rewritten.put("base", newBase);
            Files.writeString(config, Json.write(rewritten), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KilnException("cannot rewrite " + config + ": " + e.getMessage(), e);
        }
    }

    private static void sendHeader(Communicator ranks, Map<String, Object> header) {
        byte[] bytes = Json.write(header).getBytes(StandardCharsets.UTF_8);
        ranks.broadcast(ByteBuffer.allocate(Long.BYTES).putLong(bytes.length).array(), 0);
        ranks.broadcast(bytes, 0);
    }

    private static Map<?, ?> receiveHeader(Communicator ranks) {
        byte[] length = new byte[Long.BYTES];
        ranks.broadcast(length, 0);
        byte[] bytes = new byte[(int) ByteBuffer.wrap(length).getLong()];
        ranks.broadcast(bytes, 0);
        return (Map<?, ?>) Json.parse(new String(bytes, StandardCharsets.UTF_8), "rank 0's checkpoint header");
    }

    /** Deletes a received folder (a rank's copy is only needed while its run reads it). */
    public static void delete(Path folder) {
        if (folder == null) {
            return;
        }
        try {
            Checkpoint.deleteTree(folder);
        } catch (KilnException e) {
            // a leftover copy in the temporary folder is harmless
        }
    }
}
