package dev.kiln.trainer.checkpoint;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.AtomicFiles;
import dev.kiln.api.io.Json;
import dev.kiln.api.peft.PeftAdapter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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

    /** The directory name of a step's checkpoint: {@code step-NNNNNNN}. */
    public static String stepName(int step) {
        return String.format("step-%07d", step);
    }

    /**
     * Writes the checkpoint for {@code step} through {@code writer} (which receives the target directory), records it
     * as the latest (and the best when {@code best}), and prunes older ones.
     */
    public Path save(int step, boolean best, Consumer<Path> writer) {
        Path target = folder.resolve(stepName(step));
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
                // renamed out of the step-N names first: a kill halfway through the delete must not leave a
                // half-deleted directory that looks like a checkpoint
                Path doomed = folder.resolve(".pruning-" + name + "-" + System.nanoTime());
                try {
                    Files.move(steps.get(i), doomed, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    throw new KilnException("cannot prune " + steps.get(i) + ": " + e.getMessage(), e);
                }
                Checkpoint.deleteTree(doomed);
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

    /**
     * The index as saved, or — when it is missing, unreadable, or names a checkpoint that is not there — rebuilt from
     * the step directories, which are each complete (a checkpoint is renamed into place only once written whole).
     */
    private Map<String, Object> readIndex() {
        Map<String, Object> saved = savedIndex();
        return saved != null ? saved : rebuiltIndex();
    }

    /** The saved index when it is whole and names existing checkpoints; null otherwise. */
    private Map<String, Object> savedIndex() {
        Path file = folder.resolve(INDEX);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            if (Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString()) instanceof Map<?, ?> m
                    && m.get("latest") instanceof String latest && Files.isDirectory(folder.resolve(latest))
                    && (!(m.get("best") instanceof String best) || Files.isDirectory(folder.resolve(best)))) {
                Map<String, Object> index = new LinkedHashMap<>();
                m.forEach((k, v) -> index.put((String) k, v));
                return index;
            }
        } catch (IOException | KilnException e) {
            // unreadable or torn: rebuilt below
        }
        return null;
    }

    /** latest: the highest step; best: the step the latest checkpoint's training state calls best, if still kept. */
    private Map<String, Object> rebuiltIndex() {
        Map<String, Object> index = new LinkedHashMap<>();
        List<Path> steps = stepDirectories();
        if (steps.isEmpty()) {
            return index;
        }
        Path latest = steps.getLast();
        index.put("latest", latest.getFileName().toString());
        String best = latest.getFileName().toString();
        try {
            Optional<TrainingState> state = Checkpoint.open(latest).trainingState();
            if (state.isPresent() && state.get().bestStep() >= 0) {
                String named = stepName(state.get().bestStep());
                best = Files.isDirectory(folder.resolve(named)) ? named : best;
            }
        } catch (KilnException e) {
            // the latest checkpoint cannot say which was best: it stands for both
        }
        index.put("best", best);
        return index;
    }

    /**
     * Writes the index again when it was missing, corrupt or stale, so that other tools read it too; says what it did
     * (empty when the index was whole). Called by the run's one writer, under its lock.
     */
    public Optional<String> repairIndex() {
        if (savedIndex() != null || stepDirectories().isEmpty()) {
            return Optional.empty();
        }
        Map<String, Object> index = rebuiltIndex();
        writeIndex(index);
        return Optional.of("checkpoints: " + INDEX + " was missing or unreadable; rebuilt it from the step directories "
                + "(latest " + index.get("latest") + ", best " + index.get("best") + ")");
    }

    /**
     * Clears what an interrupted save left behind: unfinished {@code .writing-*} copies are deleted, and a checkpoint
     * that was moved aside to be replaced ({@code .replaced-*}) is moved back when its replacement never arrived.
     * Returns one note per thing done. Called by the run's one writer, under its lock.
     */
    public List<String> cleanUp() {
        List<String> notes = new ArrayList<>();
        if (!Files.isDirectory(folder)) {
            return notes;
        }
        List<Path> leftovers;
        try (Stream<Path> list = Files.list(folder)) {
            leftovers = list.filter(p -> p.getFileName().toString().startsWith(".writing-")
                    || p.getFileName().toString().startsWith(".replaced-")
                    || p.getFileName().toString().startsWith(".pruning-")
                    || p.getFileName().toString().endsWith(".tmp")).sorted().toList();
        } catch (IOException e) {
            throw new KilnException("cannot list " + folder + ": " + e.getMessage(), e);
        }
        for (Path leftover : leftovers) {
            String name = leftover.getFileName().toString();
            if (name.startsWith(".replaced-")) {
                Path original = folder.resolve(name.substring(".replaced-".length(), name.lastIndexOf('-')));
                if (!Files.exists(original)) {
                    try {
                        Files.move(leftover, original, StandardCopyOption.ATOMIC_MOVE);
                        notes.add("checkpoints: restored " + original.getFileName() + ", whose replacement was "
                                + "interrupted");
                        continue;
                    } catch (IOException e) {
                        throw new KilnException("cannot restore " + original + " from " + leftover + ": "
                                + e.getMessage(), e);
                    }
                }
            }
            Checkpoint.deleteTree(leftover);
            notes.add("checkpoints: removed " + name + ", left by an interrupted save");
        }
        return notes;
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
