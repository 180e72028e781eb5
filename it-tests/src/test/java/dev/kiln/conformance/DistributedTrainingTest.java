package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kiln.api.io.Json;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.metrics.MetricsLog;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training on Open MPI over loopback, two ranks of the built {@code kiln} under {@code mpirun}: two
 * ranks with half the batch each give one process's losses; a two-rank run resumes exactly, with two ranks or in one
 * process; a rank killed with SIGKILL ends the job within 30 s and leaves the last checkpoint whole. CI installs
 * {@code openmpi-bin}; the tests never skip there.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DistributedTrainingTest {
    private static final List<String> TINY = List.of("model.n_layer=1", "model.n_head=2", "model.n_embd=32",
            "model.n_positions=32", "train.context=32", "train.log_every=1", "tokenizer.vocab_size=300",
            "train.eval_tokens=2048");

    private static boolean mpirun() {
        try {
            return new ProcessBuilder("mpirun", "--version").redirectErrorStream(true).start().waitFor() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static void requireMpi() {
        boolean available = mpirun();
        if ("true".equals(System.getenv("CI"))) {
            assertTrue(available, "CI must install openmpi-bin");
        }
        assumeTrue(available, "mpirun is not installed (apt-get install openmpi-bin)");
    }

    /** The built kiln in a child JVM, as the launcher runs it; under mpirun with {@code ranks} > 1. */
    private static List<String> kiln(int ranks, Path dir, List<String> args) throws IOException {
        List<String> command = new ArrayList<>();
        if (ranks > 1) {
            // through env: mpirun rewrites a command whose program is named java (for Open MPI's own Java bindings)
            command.addAll(List.of("mpirun", "-np", Integer.toString(ranks), "--bind-to", "none", "/usr/bin/env"));
        }
        command.addAll(ChildKiln.command(args));
        command.add("data.cache=" + dir.resolve("cache"));
        command.addAll(TINY);
        return command;
    }

    private static Process start(List<String> command) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        builder.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        return builder.start();
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process process = start(command);
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(4, TimeUnit.MINUTES));
        assertEquals(0, process.exitValue(), String.join(" ", command) + "\n" + output);
        return output;
    }

    /** step → training loss from a run's metrics.jsonl. */
    private static Map<Integer, Double> losses(Path run) throws IOException {
        Map<Integer, Double> out = new java.util.TreeMap<>();
        for (Map<String, Object> record : MetricsLog.read(run.resolve("metrics.jsonl")).ofType("train")) {
            out.put(((Number) record.get("step")).intValue(), ((Number) record.get("loss")).doubleValue());
        }
        return out;
    }

    private static void assertSameLosses(Map<Integer, Double> expected, Map<Integer, Double> actual, String what) {
        for (Map.Entry<Integer, Double> e : actual.entrySet()) {
            Double want = expected.get(e.getKey());
            assertTrue(want != null, what + ": step " + e.getKey() + " missing from the reference");
            assertEquals(want, e.getValue(), 1e-5 * Math.abs(want), what + " at step " + e.getKey());
        }
    }

    @Test
    void twoRanksWithHalfTheBatchTrainAsOneProcessAndResumeEitherWay(@TempDir Path dir) throws Exception {
        requireMpi();
        Path single = dir.resolve("single");
        run(kiln(1, dir, List.of("train", "--out", single.toString(), "train.steps=20", "train.eval_every=10",
                "train.batch_size=8")));
        Path pair = dir.resolve("pair");
        String output = run(kiln(2, dir, List.of("train", "--out", pair.toString(), "train.steps=20",
                "train.eval_every=10", "train.batch_size=4")));
        assertTrue(output.contains("data parallel: rank 0 of 2"), output);
        assertTrue(!output.contains("rank 1 of 2"), "only rank 0 reports:\n" + output);
        Map<Integer, Double> reference = losses(single);
        assertEquals(20, reference.size());
        assertSameLosses(reference, losses(pair), "2 ranks × 4 rows against 1 × 8");

        // the 2-rank run, cut back to its step-10 checkpoint, goes on with 2 ranks or in one process (whole batch)
        Path half = pair;
        Path tenth = half.resolve("checkpoints").resolve("step-0000010");
        assertTrue(Files.isDirectory(tenth), "the run kept its step-10 checkpoint");
        Path again = dir.resolve("again");
        copyRun(half, again, "step-0000010");
        run(kiln(2, dir, List.of("train", "--resume", again.resolve("checkpoints/step-0000010").toString())));
        assertSameLosses(reference, losses(again), "2 ranks resumed from step 10");
        Path alone = dir.resolve("alone");
        copyRun(half, alone, "step-0000010");
        run(kiln(1, dir, List.of("train", "--resume", alone.resolve("checkpoints/step-0000010").toString(),
                "train.batch_size=8")));
        assertSameLosses(reference, losses(alone), "one process resumed from a 2-rank checkpoint");
    }

    /** With dropout each rank draws its own masks, and a resumed 2-rank run still gives every loss bit for bit. */
    @Test
    void aTwoRankRunWithDropoutResumesExactly(@TempDir Path dir) throws Exception {
        requireMpi();
        Path pair = dir.resolve("pair");
        run(kiln(2, dir, List.of("train", "--out", pair.toString(), "train.steps=16", "train.eval_every=8",
                "train.batch_size=4", "model.dropout=0.2")));
        Path again = dir.resolve("again");
        copyRun(pair, again, "step-0000008");
        run(kiln(2, dir, List.of("train", "--resume", again.toString())));
        Map<Integer, Double> straight = losses(pair);
        assertEquals(16, straight.size());
        assertEquals(straight, losses(again), "every step's loss after resuming at step 8");
    }

    /**
     * Ranks that do not share rank 0's filesystem resume from its checkpoint all the same: rank 1 runs in another
     * working directory, where the relative path given to {@code --resume} names nothing, and rank 0 sends it the
     * checkpoint. The resumed losses are the straight run's, bit for bit.
     */
    @Test
    void aRankThatCannotSeeTheCheckpointResumesFromRankZerosCopy(@TempDir Path dir) throws Exception {
        requireMpi();
        Path pair = dir.resolve("pair");
        run(kiln(2, dir, List.of("train", "--out", pair.toString(), "train.steps=12", "train.eval_every=6",
                "train.batch_size=4")));
        copyRun(pair, dir.resolve("again"), "step-0000006");
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        run(apart(dir, elsewhere, kiln(1, dir, List.of("train", "--resume", "again"))));
        Map<Integer, Double> straight = losses(pair);
        assertEquals(12, straight.size());
        assertEquals(straight, losses(dir.resolve("again")), "every step's loss after resuming at step 6");
        try (Stream<Path> left = Files.list(elsewhere)) {
            assertEquals(0, left.count(), "rank 1 wrote nothing in its working directory");
        }
    }

    /**
     * The same for a LoRA run, whose checkpoints name a base instead of holding it: rank 1, in another working
     * directory, fine-tunes from rank 0's base ({@code train.init_from}, a relative path) and later resumes the LoRA
     * checkpoint, whose base comes along with it. The resumed losses are the straight run's. (The checkpoint records
     * its base by absolute path, which both ranks see on one machine: the resume checks that the copied base and the
     * copy's rewritten config load, not that rank 1 could not have read rank 0's base.)
     */
    @Test
    void aLoraRunOnRanksThatCannotSeeItsBaseStartsAndResumes(@TempDir Path dir) throws Exception {
        requireMpi();
        run(kiln(1, dir, List.of("train", "--out", dir.resolve("base").toString(), "train.steps=2")));
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        List<String> lora = List.of("train.init_from=base", "train.lora.r=4",
                "train.lora.target_modules=c_attn,c_proj,c_fc", "train.steps=8", "train.eval_every=4",
                "train.batch_size=4");
        List<String> start = new ArrayList<>(List.of("train", "--out", dir.resolve("lora").toString()));
        start.addAll(lora);
        run(apart(dir, elsewhere, kiln(1, dir, start)));
        Map<Integer, Double> straight = losses(dir.resolve("lora"));
        assertEquals(8, straight.size());
        copyRun(dir.resolve("lora"), dir.resolve("again"), "step-0000004");
        run(apart(dir, elsewhere, kiln(1, dir, List.of("train", "--resume", "again"))));
        assertEquals(straight, losses(dir.resolve("again")), "every step's loss after resuming at step 4");
    }

    /** Two ranks of {@code command} under mpirun, rank 0 working in {@code here} and rank 1 in {@code there}. */
    private static List<String> apart(Path here, Path there, List<String> command) {
        List<String> job = new ArrayList<>(List.of("mpirun", "--bind-to", "none", "-np", "1", "-wdir", here.toString(),
                "/usr/bin/env"));
        job.addAll(command);
        job.addAll(List.of(":", "-np", "1", "-wdir", there.toString(), "/usr/bin/env"));
        job.addAll(command);
        return job;
    }

    /**
     * {@code kiln train --nproc 2} starts the ranks itself; ranks launched with different configs (mpirun's
     * {@code A : B} form) stop at the start with an error naming the difference.
     */
    @Test
    void nprocStartsTheRanksAndRanksThatDisagreeStopAtTheStart(@TempDir Path dir) throws Exception {
        requireMpi();
        Path run = dir.resolve("nproc");
        String output = run(kiln(1, dir, List.of("train", "--nproc", "2", "--out", run.toString(), "train.steps=3",
                "train.batch_size=4")));
        assertTrue(output.contains("data parallel: rank 0 of 2"), output);
        assertEquals(3, losses(run).size());

        List<String> first = kiln(1, dir, List.of("train", "--out", dir.resolve("mismatch").toString(),
                "train.steps=3", "train.batch_size=4", "train.lr=0.001"));
        List<String> second = kiln(1, dir, List.of("train", "--out", dir.resolve("mismatch").toString(),
                "train.steps=3", "train.batch_size=4", "train.lr=0.002"));
        List<String> command = new ArrayList<>(List.of("mpirun", "--bind-to", "none", "-np", "1", "/usr/bin/env"));
        command.addAll(first);
        command.addAll(List.of(":", "-np", "1", "/usr/bin/env"));
        command.addAll(second);
        Process job = start(command);
        String refused = new String(job.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(job.waitFor(2, TimeUnit.MINUTES));
        assertTrue(job.exitValue() != 0, refused);
        assertTrue(refused.contains("rank 1 has another experiment config than rank 0"), refused);
    }

    /** A copy of a run with only the checkpoint named kept (as if it had stopped there). */
    private static void copyRun(Path from, Path to, String checkpoint) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path relative = from.relativize(p);
                if (relative.startsWith("checkpoints") && relative.getNameCount() > 1
                        && !relative.getName(1).toString().equals(checkpoint)) {
                    continue;
                }
                if (relative.toString().equals(".lock")) {
                    continue;
                }
                Path target = to.resolve(relative.toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
        // the metrics past the checkpoint belong to the steps that will be run again
        List<String> kept = Files.readAllLines(to.resolve("metrics.jsonl")).stream().filter(line -> {
            Map<?, ?> record = (Map<?, ?>) Json.parse(line, "metrics");
            return ((Number) record.get("step")).intValue() <= Integer.parseInt(checkpoint.substring("step-".length()));
        }).toList();
        Files.write(to.resolve("metrics.jsonl"), kept);
    }

    @Test
    void aRankKilledMidRunEndsTheJobWithin30SecondsAndTheLastCheckpointStaysWhole(@TempDir Path dir)
            throws Exception {
        requireMpi();
        Path run = dir.resolve("run");
        Process job = start(kiln(2, dir, List.of("train", "--out", run.toString(), "train.steps=100000",
                "train.eval_every=5", "train.batch_size=4")));
        StringBuilder output = new StringBuilder();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                output.append(new String(job.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the job is gone
            }
        });
        Path checkpoints = run.resolve("checkpoints");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline && !(Files.isDirectory(checkpoints)
                && Files.list(checkpoints).anyMatch(p -> p.getFileName().toString().startsWith("step-")))) {
            Thread.sleep(100);
        }
        assertTrue(Files.isDirectory(checkpoints), "the job wrote a checkpoint:\n" + output);
        // rank 1: the java child of mpirun that is not rank 0 (OMPI_COMM_WORLD_RANK=1 in its environment)
        long victim = job.descendants().filter(p -> p.info().command().orElse("").endsWith("java"))
                .filter(p -> rankOf(p.pid()) == 1).findFirst().or(() -> job.descendants()
                        .filter(p -> rankOf(p.pid()) == 1).findFirst()).orElseThrow().pid();
        long killed = System.nanoTime();
        new ProcessBuilder("kill", "-9", Long.toString(victim)).start().waitFor();
        assertTrue(job.waitFor(30, TimeUnit.SECONDS), "the job ended within 30 s of rank 1's death");
        double seconds = (System.nanoTime() - killed) / 1e9;
        reader.join(5000);
        assertTrue(job.exitValue() != 0, "a job that lost a rank fails");
        assertTrue(seconds < 30, seconds + " s");
        try (Stream<Path> list = Files.list(checkpoints)) {
            for (Path checkpoint : list.filter(p -> p.getFileName().toString().startsWith("step-")).toList()) {
                Checkpoint opened = Checkpoint.open(checkpoint);
                assertTrue(opened.trainingState().isPresent(), checkpoint + " is whole");
            }
        }
    }

    private static int rankOf(long pid) {
        try {
            byte[] environment = Files.readAllBytes(Path.of("/proc/" + pid + "/environ"));
            for (String entry : new String(environment, StandardCharsets.UTF_8).split("\u0000")) {
                if (entry.startsWith("OMPI_COMM_WORLD_RANK=")) {
                    return Integer.parseInt(entry.substring("OMPI_COMM_WORLD_RANK=".length()));
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // not a rank, or gone
        }
        return -1;
    }
}
