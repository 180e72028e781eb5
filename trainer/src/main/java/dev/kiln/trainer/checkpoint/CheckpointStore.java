package dev.kiln.trainer.checkpoint;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.AtomicFiles;
import dev.kiln.api.io.Json;
import dev.kiln.api.peft.PeftAdapter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A run's {@code checkpoints/} folder: one {@code step-NNNNNNN} directory per checkpoint, and {@code index.json} naming
 * the latest and the best (lowest validation loss). After each save only the newest {@code keep} and the best remain.
 */
public final class CheckpointStore {
    public static final String FOLDER = "checkpoints";
    private static final String INDEX = "index.json";

    private final Path folder;
    private final int keep;

    public CheckpointStore(Path runDirectory, int keep) {
        this.folder = runDirectory.resolve(FOLDER);
        this.keep = keep;
    }

    /**
     * Writes the checkpoint for {@code step} through {@code writer} (which receives the target directory), records it
     * as the latest (and the best when {@code best}), and prunes older ones.
     */
    public Path save(int step, boolean best, Consumer<Path> writer) {
        Path target = folder.resolve(String.format("step-%07d", step));
        writer.accept(target);
        Map<String, Object> index = readIndex();
        index.put("latest", target.getFileName().toString());
        if (best || !index.containsKey("best")) {
            index.put("best", target.getFileName().toString());
        }
        writeIndex(index);
        prune(index);
        return target;
    }

    private void prune(Map<String, Object> index) {
        List<Path> steps = stepDirectories();
        for (int i = 0; i < steps.size() - keep; i++) {
            String name = steps.get(i).getFileName().toString();
            if (!name.equals(index.get("best")) && !name.equals(index.get("latest"))) {
                Checkpoint.deleteTree(steps.get(i));
            }
        }
    }

    private List<Path> stepDirectories() {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(folder)) {
            return new ArrayList<>(list.filter(Files::isDirectory)
                    .filter(p -> p.getFileName().toString().matches("step-\\d+")).sorted().toList());
        } catch (IOException e) {
            throw new KilnException("cannot list " + folder + ": " + e.getMessage(), e);
        }
    }

    public Optional<Path> latest() {
        return named("latest");
    }

    public Optional<Path> best() {
        return named("best");
    }

    private Optional<Path> named(String which) {
        Object name = readIndex().get(which);
        return name instanceof String s && Files.isDirectory(folder.resolve(s)) ? Optional.of(folder.resolve(s))
                : Optional.empty();
    }

    private Map<String, Object> readIndex() {
        Path file = folder.resolve(INDEX);
        Map<String, Object> index = new LinkedHashMap<>();
        if (Files.isRegularFile(file)) {
            try {
                if (Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString()) instanceof Map<?, ?> m) {
                    m.forEach((k, v) -> index.put((String) k, v));
                }
            } catch (IOException e) {
                throw new KilnException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        return index;
    }

    private void writeIndex(Map<String, Object> index) {
        AtomicFiles.replace(folder.resolve(INDEX), "checkpoint index", Json.write(index));
    }

    /**
     * The checkpoint a path means: a checkpoint directory itself, or a run directory's best ({@code preferBest}) or
     * latest checkpoint. Anything else is an error saying what was expected.
     */
    public static Path resolve(Path path, boolean preferBest) {
        if (Files.isDirectory(path.resolve(FOLDER))) {
            CheckpointStore store = new CheckpointStore(path, Integer.MAX_VALUE);
            Optional<Path> chosen = preferBest ? store.best().or(store::latest) : store.latest();
            return chosen.orElseThrow(() -> new KilnException("run " + path + " has no checkpoint yet"));
        }
        if (Files.isRegularFile(path.resolve(Checkpoint.WEIGHTS))
                || Files.isRegularFile(path.resolve(PeftAdapter.WEIGHTS))) {
            return path;
        }
        throw new KilnException(path + " is neither a checkpoint (a directory with " + Checkpoint.CONFIG + ", "
                + Checkpoint.WEIGHTS + " (or a LoRA adapter's " + PeftAdapter.WEIGHTS + ") and "
                + Checkpoint.TOKENIZER + ") nor a run directory with " + FOLDER + "/");
    }

    /** The run directory a checkpoint belongs to, when it sits in one's {@code checkpoints/} folder. */
    public static Optional<Path> runOf(Path checkpoint) {
        Path parent = checkpoint.toAbsolutePath().normalize().getParent();
        return parent != null && parent.getFileName() != null && parent.getFileName().toString().equals(FOLDER)
                ? Optional.of(parent.getParent()) : Optional.empty();
    }
}
