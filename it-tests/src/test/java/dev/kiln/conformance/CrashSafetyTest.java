package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.metrics.MetricsLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety, end to end: {@code kill -9} at random moments of a training process (while it trains, evaluates or
 * writes a checkpoint) never leaves a broken checkpoint, and resuming after each kill ends with every step's loss
 * bit for bit that of a run that was never killed.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class CrashSafetyTest {
    private static final List<String> TINY = List.of("model.n_layer=1", "model.n_head=2", "model.n_embd=32",
            "model.n_positions=32", "train.context=32", "train.batch_size=4", "train.log_every=1",
            "tokenizer.vocab_size=300", "train.eval_tokens=1024", "train.eval_every=3", "train.keep=2",
            "train.steps=60", "train.sample_tokens=0", "backend.threads=1");

    private static List<String> kiln(Path dir, List<String> args) {
        List<String> command = new ArrayList<>(ChildKiln.command(args));
        command.add("data.cache=" + dir.resolve("cache"));
        return command;
    }

    private static Process start(List<String> command, Path log) throws IOException {
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    @Test
    void killedAtRandomMomentsAndResumedARunLosesNothing(@TempDir Path dir) throws Exception {
        Path corpus = dir.resolve("corpus.txt");
        Files.writeString(corpus, Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"))
                .substring(0, 40_000));
        List<String> fresh = new ArrayList<>(List.of("train", "--data", corpus.toString()));
        Path straight = dir.resolve("straight");
        List<String> straightArgs = new ArrayList<>(fresh);
        straightArgs.addAll(List.of("--out", straight.toString()));
        straightArgs.addAll(TINY);
        Process reference = start(kiln(dir, straightArgs), dir.resolve("straight.log"));
        assertTrue(reference.waitFor(90, TimeUnit.SECONDS) && reference.exitValue() == 0,
                Files.readString(dir.resolve("straight.log")));

        Path killed = dir.resolve("killed");
        Random random = new Random(26);
        int kills = 0;
        for (int attempt = 0; attempt < 4; attempt++) {
            List<String> args = new ArrayList<>();
            if (attempt == 0) {
                args.addAll(fresh);
                args.addAll(List.of("--out", killed.toString()));
                args.addAll(TINY);
            } else {
                args.addAll(List.of("train", "--resume", killed.toString()));
            }
            Path log = dir.resolve("killed-" + attempt + ".log");
            Process process = start(kiln(dir, args), log);
            int before = checkpointsWritten(killed);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (process.isAlive() && checkpointsWritten(killed) <= before && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Thread.sleep(random.nextInt(400));                 // somewhere in training, evaluating or saving
            if (process.isAlive()) {
                process.destroyForcibly();                     // SIGKILL: no shutdown hook, no flush
                kills++;
            }
            process.waitFor(30, TimeUnit.SECONDS);
            for (Path checkpoint : stepDirectories(killed)) {
                assertTrue(Checkpoint.open(checkpoint).trainingState().isPresent(), checkpoint + " is whole after "
                        + "kill " + kills + "\n" + Files.readString(log));
            }
        }
        assertTrue(kills >= 2, "the run was killed " + kills + " times");
        Process finish = start(kiln(dir, List.of("train", "--resume", killed.toString())), dir.resolve("finish.log"));
        assertTrue(finish.waitFor(90, TimeUnit.SECONDS), "the last resume finished");
        assertEquals(0, finish.exitValue(), Files.readString(dir.resolve("finish.log")));
        Map<Long, Object> expected = losses(straight);
        assertEquals(60, expected.size());
        assertEquals(expected, losses(killed), "every step's loss, bit for bit, after " + kills + " kills");
    }

    private static Map<Long, Object> losses(Path run) {
        Map<Long, Object> losses = new TreeMap<>();
        for (Map<String, Object> record : MetricsLog.read(run.resolve("metrics.jsonl")).ofType("train")) {
            losses.put((Long) record.get("step"), record.get("loss"));
        }
        return losses;
    }

    /** How many checkpoints the run has written so far, from its newest step directory's number. */
    private static int checkpointsWritten(Path run) throws IOException {
        List<Path> steps = stepDirectories(run);
        return steps.isEmpty() ? 0 : Integer.parseInt(steps.getLast().getFileName().toString().substring(5));
    }

    private static List<Path> stepDirectories(Path run) throws IOException {
        Path folder = run.resolve("checkpoints");
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(folder)) {
            return list.filter(p -> p.getFileName().toString().matches("step-\\d+")).sorted().toList();
        } catch (NoSuchFileException pruned) {
            return List.of();
        }
    }
}
