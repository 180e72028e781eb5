package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.ConfigException;
import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.trainer.ExperimentConfig;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.Trainer;
import dev.kiln.trainer.TrainingListener;
import dev.kiln.trainer.TrainingResult;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.metrics.MetricsLog;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The trainer end to end on small models: exact resumption, caches, skipped steps, fine-tuning, checkpoint errors. */
class TrainerTest {
    private static Corpus corpus;

    @BeforeAll
    static void readCorpus() throws IOException {
        String text = Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"));
        corpus = Corpus.of("tinyshakespeare head", text.substring(0, 60_000));
    }

    static Plugins plugins() {
        return Plugins.load(ModuleLayer.boot());
    }

    /** A tiny GPT on a 300-token BPE vocabulary, with every step logged. */
    static ExperimentConfig tinyGpt(Path cache, String... overrides) {
        Map<String, String> values = new java.util.LinkedHashMap<>(Map.of(
                "model.id", "gpt", "model.n_layer", "1", "model.n_head", "2", "model.n_embd", "32",
                "model.n_positions", "32", "tokenizer.vocab_size", "300", "backend.threads", "2",
                "train.batch_size", "4", "train.context", "32", "data.cache", cache.toString()));
        values.putAll(Map.of("train.warmup", "5", "train.log_every", "1", "train.eval_every", "10",
                "train.eval_tokens", "2048", "train.sample_tokens", "0", "train.lr", "3e-3"));
        for (int i = 0; i < overrides.length; i += 2) {
            values.put(overrides[i], overrides[i + 1]);
        }
        return ExperimentConfig.defaults().with(values);
    }

    static List<Map<?, ?>> metrics(Path run, String type) {
        return new ArrayList<>(MetricsLog.read(run.resolve("metrics.jsonl")).ofType(type));
    }

    private static double[] column(List<Map<?, ?>> records, String key) {
        return records.stream().mapToDouble(r -> ((Number) r.get(key)).doubleValue()).toArray();
    }

    @Test
    void stoppingAndResumingGivesTheLossesOfAnUninterruptedRun(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "40", "model.dropout", "0.1");
        TrainingResult straight = new Trainer(plugins(), new TrainingListener() { }).train(config, corpus,
                dir.resolve("straight"));
        assertEquals(40, straight.steps());

        // stop between evaluations, as Ctrl-C would: the trainer finishes the step and writes a checkpoint
        TrainingResult stopped = firstRun(config, dir.resolve("resumed"));
        assertEquals(TrainingResult.StopReason.INTERRUPTED, stopped.stopReason());
        assertEquals(13, stopped.steps());
        assertTrue(stopped.lastCheckpoint().endsWith("step-0000013"), stopped.lastCheckpoint().toString());

        TrainingResult resumed = new Trainer(plugins(), new TrainingListener() { }).resume(dir.resolve("resumed"),
                Map.of(), corpus);
        assertEquals(40, resumed.steps());
        assertArrayEquals(column(metrics(dir.resolve("straight"), "train"), "loss"),
                column(metrics(dir.resolve("resumed"), "train"), "loss"), "every step's loss, bit for bit");
        assertArrayEquals(column(metrics(dir.resolve("straight"), "eval"), "val_loss"),
                column(metrics(dir.resolve("resumed"), "eval"), "val_loss"));
        assertEquals(straight.evaluation().metric("bits_per_byte"), resumed.evaluation().metric("bits_per_byte"));
    }

    private TrainingResult firstRun(ExperimentConfig config, Path run) {
        Trainer[] holder = new Trainer[1];
        holder[0] = new Trainer(plugins(), new TrainingListener() {
            @Override
            public void onStep(StepReport report) {
                if (report.step() == 13) {
                    holder[0].requestStop();
                }
            }
        });
        return holder[0].train(config, corpus, run);
    }

    @Test
    void theTokenStreamAndTokenizerAreCachedUntilTheCorpusChanges(@TempDir Path dir) {
        List<String> messages = new ArrayList<>();
        TrainingListener record = new TrainingListener() {
            @Override
            public void onMessage(String message) {
                messages.add(message);
            }
        };
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "2", "train.eval_every", "2");
        new Trainer(plugins(), record).train(config, corpus, dir.resolve("a"));
        assertTrue(messages.stream().anyMatch(m -> m.startsWith("tokenizer: trained")), messages.toString());
        assertFalse(messages.stream().anyMatch(m -> m.contains(", cached)")), messages.toString());
        messages.clear();
        new Trainer(plugins(), record).train(config, corpus, dir.resolve("b"));
        assertTrue(messages.stream().anyMatch(m -> m.startsWith("tokenizer: reused")), messages.toString());
        assertTrue(messages.stream().anyMatch(m -> m.contains(", cached)")), messages.toString());
        messages.clear();
        Corpus changed = Corpus.of("changed", corpus.text().replace("Citizen", "Burgher"));
        new Trainer(plugins(), record).train(config, changed, dir.resolve("c"));
        assertTrue(messages.stream().anyMatch(m -> m.startsWith("tokenizer: trained")), messages.toString());
        assertFalse(messages.stream().anyMatch(m -> m.contains(", cached)")), messages.toString());
    }

    @Test
    void nonFiniteStepsAreSkippedAndTooManyStopTheRunKeepingTheLastGoodCheckpoint(@TempDir Path dir)
            throws IOException {
        // a learning rate of 1e30 blows the weights up after one step: every later loss overflows
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "20", "train.eval_every", "1",
                "train.lr", "1e30", "train.min_lr", "0", "train.warmup", "0", "train.max_bad_steps", "3",
                "train.grad_clip", "0");
        List<Integer> skipped = new ArrayList<>();
        KilnException e = assertThrows(KilnException.class, () -> new Trainer(plugins(), new TrainingListener() {
            @Override
            public void onSkippedStep(int step, String reason) {
                skipped.add(step);
            }
        }).train(config, corpus, dir.resolve("run")));
        assertTrue(e.getMessage().contains("non-finite") && e.getMessage().contains("step-0000001"), e.getMessage());
        assertEquals(List.of(2, 3, 4), skipped);
        assertEquals(3, metrics(dir.resolve("run"), "skip").size());
        Path good = CheckpointStore.resolve(dir.resolve("run"), false);
        assertTrue(good.endsWith("step-0000001"), good.toString());
        try (Stream<Path> list = Files.list(dir.resolve("run/checkpoints"))) {
            assertEquals(List.of("index.json", "step-0000001"), list.map(p -> p.getFileName().toString()).sorted()
                    .toList(), "nothing half-written, nothing after the last good step");
        }
        Checkpoint.open(good).trainingState().orElseThrow();
    }

    @Test
    void fineTuningStartsFromACheckpointsWeightsWithAFreshSchedule(@TempDir Path dir) throws IOException {
        ExperimentConfig base = tinyGpt(dir.resolve("cache"), "train.steps", "60", "train.eval_every", "60");
        TrainingResult pretrained = new Trainer(plugins(), new TrainingListener() { }).train(base, corpus,
                dir.resolve("base"));
        Path other = dir.resolve("other.txt");
        Files.writeString(other, corpus.text().substring(30_000) + corpus.text().substring(0, 30_000));
        ExperimentConfig fineTune = tinyGpt(dir.resolve("cache"), "train.steps", "5", "train.eval_every", "5",
                "data.path", other.toString(), "train.init_from", dir.resolve("base").toString(),
                "train.lr", "1e-4", "train.warmup", "0");
        TrainingResult tuned = new Trainer(plugins(), new TrainingListener() { }).train(fineTune, null,
                dir.resolve("tuned"));
        double firstLoss = column(metrics(dir.resolve("tuned"), "train"), "loss")[0];
        double fresh = column(metrics(dir.resolve("base"), "train"), "loss")[0];
        assertTrue(firstLoss < fresh - 0.5, "starts from the trained weights: " + firstLoss + " vs fresh " + fresh);
        assertEquals(5, tuned.steps(), "a new schedule counts from zero");
        assertEquals(Files.readString(pretrained.lastCheckpoint().resolve("tokenizer.json")),
                Files.readString(tuned.lastCheckpoint().resolve("tokenizer.json")), "the checkpoint's tokenizer");
    }

    @Test
    void checkpointsOfAnotherShapeOrModelOrCorruptedAreClearErrors(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "1", "train.eval_every", "1");
        Path checkpoint = new Trainer(plugins(), new TrainingListener() { }).train(config, corpus,
                dir.resolve("run")).lastCheckpoint();
        var backend = plugins().backend("cpu", Options.defaults());
        var gpt = plugins().models().get("gpt");
        LanguageModel loaded = Checkpoint.open(checkpoint).loadModel(gpt, backend, new Generator(0));
        assertEquals("gpt", loaded.modelId());

        Path wide = copy(checkpoint, dir.resolve("wide"));
        Files.writeString(wide.resolve("config.json"), Files.readString(wide.resolve("config.json"))
                .replace("\"n_embd\":32", "\"n_embd\":64"));
        KilnException shape = assertThrows(KilnException.class,
                () -> Checkpoint.open(wide).loadModel(gpt, backend, new Generator(0)));
        assertTrue(shape.getMessage().contains("transformer.") && shape.getMessage().contains("[300, 32]")
                && shape.getMessage().contains("[300, 64]"), shape.getMessage());

        Path lstm = copy(checkpoint, dir.resolve("lstm"));
        Files.writeString(lstm.resolve("config.json"), Files.readString(lstm.resolve("config.json"))
                .replace("\"model\":\"gpt\"", "\"model\":\"lstm\"").replaceAll("\"hyperparameters\":\\{[^}]*}",
                        "\"hyperparameters\":{\"vocab_size\":300,\"embed_size\":8,\"hidden_size\":8}"));
        KilnException other = assertThrows(KilnException.class, () -> Checkpoint.open(lstm)
                .loadModel(plugins().models().get("lstm"), backend, new Generator(0)));
        assertTrue(other.getMessage().contains("has no tensor"), other.getMessage());
        KilnException mismatch = assertThrows(KilnException.class,
                () -> Checkpoint.open(lstm).loadModel(gpt, backend, new Generator(0)));
        assertTrue(mismatch.getMessage().contains("holds a lstm model"), mismatch.getMessage());

        Path extra = copy(checkpoint, dir.resolve("extra"));
        SafeTensors original = SafeTensors.read(checkpoint.resolve("model.safetensors"));
        SafeTensors.Writer withExtra = SafeTensors.writer();
        original.names().forEach(name -> withExtra.floats(name, original.floats(name), original.shape(name)));
        withExtra.floats("transformer.h.9.attn.c_attn.weight", new float[4], new int[] {2, 2});
        Files.delete(extra.resolve("model.safetensors"));
        withExtra.write(extra.resolve("model.safetensors"));
        KilnException unexpected = assertThrows(KilnException.class,
                () -> Checkpoint.open(extra).loadModel(gpt, backend, new Generator(0)));
        assertTrue(unexpected.getMessage().contains("transformer.h.9.attn.c_attn.weight")
                && unexpected.getMessage().contains("strict=false"), unexpected.getMessage());
        assertEquals("gpt", Checkpoint.open(extra).loadModel(gpt, backend, new Generator(0), false).modelId());

        Path truncated = copy(checkpoint, dir.resolve("truncated"));
        byte[] weights = Files.readAllBytes(truncated.resolve("model.safetensors"));
        Files.write(truncated.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
        KilnException corrupt = assertThrows(KilnException.class,
                () -> Checkpoint.open(truncated).loadModel(gpt, backend, new Generator(0)));
        assertTrue(corrupt.getMessage().contains("model.safetensors"), corrupt.getMessage());

        Files.delete(truncated.resolve("tokenizer.json"));
        KilnException missing = assertThrows(KilnException.class, () -> Checkpoint.open(truncated));
        assertTrue(missing.getMessage().contains("tokenizer.json"), missing.getMessage());
        backend.close();
    }

    /**
     * One writer per run directory: while a run trains, a second train or a resume of the same directory is refused
     * at once, naming the process that holds it; once it has stopped, and with a stale lock file left behind, the run
     * resumes.
     */
    @Test
    @Timeout(120)
    void aRunDirectoryHasOneWriter(@TempDir Path dir) throws Exception {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "100000", "train.eval_every", "2");
        Path run = dir.resolve("run");
        CountDownLatch checkpointed = new CountDownLatch(1);
        Trainer first = new Trainer(plugins(), new TrainingListener() {
            @Override
            public void onCheckpoint(int step, Path checkpoint) {
                checkpointed.countDown();
            }
        });
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<TrainingResult> stopped = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                stopped.set(first.train(config, corpus, run));
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        writer.start();
        assertTrue(checkpointed.await(60, TimeUnit.SECONDS), "the first run checkpointed");
        Trainer second = new Trainer(plugins(), new TrainingListener() { });
        KilnException twice = assertThrows(KilnException.class, () -> second.train(config, corpus, run));
        String pid = Long.toString(ProcessHandle.current().pid());
        assertTrue(twice.getMessage().contains("in use by another kiln process") && twice.getMessage().contains(pid),
                twice.getMessage());
        KilnException resumed = assertThrows(KilnException.class, () -> second.resume(run, Map.of(), corpus));
        assertTrue(resumed.getMessage().contains("in use"), resumed.getMessage());
        first.requestStop();
        writer.join();
        assertEquals(null, failure.get());
        Files.writeString(run.resolve(".lock"), "999999999\n");             // left by a killed process: no lock held
        int stoppedAt = stopped.get().steps();
        TrainingResult after = second.resume(run, Map.of("train.steps", Integer.toString(stoppedAt + 1)), corpus);
        assertEquals(stoppedAt + 1, after.steps());
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
        return to;
    }

    @Test
    void onlyTheNewestCheckpointsAndTheBestAreKept(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "12", "train.eval_every", "2",
                "train.keep", "2");
        TrainingResult result = new Trainer(plugins(), new TrainingListener() { }).train(config, corpus,
                dir.resolve("run"));
        List<String> kept;
        try (Stream<Path> list = Files.list(dir.resolve("run/checkpoints"))) {
            kept = list.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-")).sorted().toList();
        }
        Path best = CheckpointStore.resolve(dir.resolve("run"), true);
        assertTrue(kept.containsAll(List.of("step-0000010", "step-0000012")), kept.toString());
        assertTrue(kept.contains(best.getFileName().toString()));
        assertTrue(kept.size() <= 3, kept.toString());
        assertTrue(result.lastCheckpoint().endsWith("step-0000012"));
        String svg = Files.readString(dir.resolve("run/loss.svg"), StandardCharsets.UTF_8);
        assertTrue(svg.startsWith("<svg") && svg.contains("polyline") && svg.contains("validation"), svg);
        assertEquals(12, metrics(dir.resolve("run"), "train").size());
        assertEquals(6, metrics(dir.resolve("run"), "eval").size());
    }

    @Test
    void gradientAccumulationEqualsTheBiggerBatch(@TempDir Path dir) throws IOException {
        // window n of a run is drawn from (seed, n) alone, so 2 micro-batches of 2 see the 4 windows of one batch of 4
        new Trainer(plugins(), new TrainingListener() { }).train(tinyGpt(dir.resolve("cache"), "train.steps", "4",
                "train.eval_every", "4"), corpus, dir.resolve("big"));
        new Trainer(plugins(), new TrainingListener() { }).train(tinyGpt(dir.resolve("cache"), "train.steps", "4",
                "train.eval_every", "4", "train.batch_size", "2", "train.grad_accum", "2"), corpus, dir.resolve("acc"));
        double[] big = column(metrics(dir.resolve("big"), "train"), "loss");
        double[] accumulated = column(metrics(dir.resolve("acc"), "train"), "loss");
        for (int i = 0; i < big.length; i++) {
            assertEquals(big[i], accumulated[i], 1e-5 * big[i], "step " + (i + 1));
        }
    }

    @Test
    void theTimeBudgetAndEarlyStoppingEndARunCleanly(@TempDir Path dir) {
        TrainingResult timed = new Trainer(plugins(), new TrainingListener() { }).train(tinyGpt(dir.resolve("cache"),
                "train.steps", "1000", "train.time_budget", "0.001"), corpus, dir.resolve("timed"));
        assertEquals(TrainingResult.StopReason.TIME_BUDGET, timed.stopReason());
        assertEquals(1, timed.steps());
        assertTrue(timed.lastCheckpoint().endsWith("step-0000001"), "evaluated and saved where it stopped");
        // a learning rate too small to move any weight: the validation loss never improves after the first evaluation
        TrainingResult patient = new Trainer(plugins(), new TrainingListener() { }).train(tinyGpt(dir.resolve("cache"),
                "train.steps", "1000", "train.eval_every", "2", "train.patience", "2", "train.lr", "1e-30",
                "train.min_lr", "0"), corpus, dir.resolve("patient"));
        assertEquals(TrainingResult.StopReason.EARLY_STOPPING, patient.stopReason());
        assertEquals(6, patient.steps(), "best at step 2, no better at 4 and 6");
    }

    @Test
    void configKeysAreCheckedAndSectionsFollowTheirPlugin() {
        KilnException typo = assertThrows(KilnException.class,
                () -> ExperimentConfig.defaults().with(Map.of("train.stpes", "5")));
        assertTrue(typo.getMessage().contains("train.stpes") && typo.getMessage().contains("did you mean train.steps"),
                typo.getMessage());
        KilnException shortTypo = assertThrows(KilnException.class,
                () -> ExperimentConfig.defaults().with(Map.of("stesp", "5")));
        assertTrue(shortTypo.getMessage().contains("'stesp'") && shortTypo.getMessage().contains("did you mean steps")
                && shortTypo.getMessage().contains("train.steps"), shortTypo.getMessage());
        KilnException section = assertThrows(KilnException.class,
                () -> ExperimentConfig.defaults().with(Map.of("optimiser.lr", "5")));
        assertTrue(section.getMessage().contains("optimiser.lr"), section.getMessage());
        KilnException value = assertThrows(KilnException.class,
                () -> ExperimentConfig.defaults().with(Map.of("steps", "many")).train());
        assertTrue(value.getMessage().contains("steps=many"), value.getMessage());
        ExperimentConfig gpt = ExperimentConfig.defaults().with(Map.of("model.n_layer", "2", "steps", "7"));
        assertEquals("7", gpt.get("train.steps"), "a bare train key");
        ExperimentConfig lstm = gpt.with(Map.of("model", "lstm"));
        assertEquals(Map.of(), lstm.pluginOptions("model").values(), "the gpt options leave with the gpt");
    }

    @Test
    void badDataIsOneClearError(@TempDir Path dir) throws IOException {
        Path empty = Files.createFile(dir.resolve("empty.txt"));
        assertTrue(assertThrows(KilnException.class, () -> Corpus.read(empty)).getMessage()
                .contains("empty.txt is empty"));
        Path binary = Files.write(dir.resolve("model.bin"), new byte[] {'a', 'b', 0, 1, 2});
        assertTrue(assertThrows(KilnException.class, () -> Corpus.read(binary)).getMessage()
                .contains("looks binary"));
        Path latin1 = Files.write(dir.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xE9});
        assertTrue(assertThrows(KilnException.class, () -> Corpus.read(latin1)).getMessage()
                .contains("not UTF-8"));
        assertTrue(assertThrows(KilnException.class, () -> Corpus.read(dir.resolve("missing.txt"))).getMessage()
                .contains("does not exist"));
        Path folder = Files.createDirectories(dir.resolve("texts"));
        Files.writeString(folder.resolve("b.txt"), "second");
        Files.writeString(folder.resolve("a.txt"), "first");
        Files.writeString(folder.resolve(".hidden"), "skipped");
        assertEquals("first\nsecond", Corpus.read(folder).text());
    }

    /**
     * --resume applies what can change (steps, schedule, cadence, budgets) and says so; anything else is one error
     * naming every such key, and the run's config.json keeps what the run really used.
     */
    @Test
    void resumeAppliesWhatCanChangeAndRefusesTheRest(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "10");
        Path run = dir.resolve("run");
        new Trainer(plugins(), new TrainingListener() { }).train(config, corpus, run);
        String savedConfig = Files.readString(run.resolve("config.json"));
        ConfigException refused = assertThrows(ConfigException.class, () -> new Trainer(plugins(),
                new TrainingListener() { }).resume(run, Map.of("model.id", "lstm", "model.n_layer", "6",
                "tokenizer.vocab_size", "500", "batch_size", "8", "train.steps", "20"), corpus));
        for (String key : List.of("model.id", "model.n_layer", "tokenizer.vocab_size", "train.batch_size")) {
            assertTrue(refused.getMessage().contains(key), refused.getMessage());
        }
        assertFalse(refused.getMessage().contains("train.steps"), refused.getMessage());
        assertEquals(savedConfig, Files.readString(run.resolve("config.json")), "nothing recorded");

        List<String> messages = new ArrayList<>();
        TrainingResult longer = new Trainer(plugins(), new TrainingListener() {
            @Override
            public void onMessage(String message) {
                messages.add(message);
            }
        }).resume(run, Map.of("train.steps", "20", "model.n_layer", "1", "train.eval_every", "5"), corpus);
        assertEquals(20, longer.steps());
        assertTrue(messages.contains("resume: applying train.steps 10 → 20, train.eval_every 10 → 5")
                || messages.contains("resume: applying train.eval_every 10 → 5, train.steps 10 → 20"), messages.toString());
        Map<?, ?> recorded = (Map<?, ?>) Json.parse(Files.readString(run.resolve("config.json")), "config");
        assertEquals("20", recorded.get("train.steps"));
        assertEquals("1", recorded.get("model.n_layer"), "an override equal to the run's value is no change");
        TrainingResult fromCheckpoint = new Trainer(plugins(), new TrainingListener() { }).resume(
                run.resolve("checkpoints").resolve("step-0000020"), Map.of("train.steps", "22"), corpus);
        assertEquals(22, fromCheckpoint.steps(), "a checkpoint directory resumes too (its config.json is no run's)");
    }

    @Test
    void everyTrainAndDataKeyIsClassifiedForResume() {
        for (String key : ExperimentConfig.defaults().asMap().keySet()) {
            assertNotNull(ExperimentConfig.onResume(key), key);
        }
        assertEquals(ExperimentConfig.OnResume.APPLIES, ExperimentConfig.onResume("backend.threads"));
        assertEquals(ExperimentConfig.OnResume.FIXED, ExperimentConfig.onResume("backend.id"));
        assertEquals(ExperimentConfig.OnResume.FIXED, ExperimentConfig.onResume("task.max_length"));
    }

    /**
     * What a kill or a disk leaves beside the checkpoints never blocks a resume: a torn last metrics line is dropped,
     * the metrics file is only appended to (its earlier bytes stay as they were), a missing or corrupt index is
     * rebuilt from the step directories, and an unfinished checkpoint copy is removed.
     */
    @Test
    void theFilesBesideTheCheckpointsNeverBlockAResume(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "20");
        Path run = dir.resolve("run");
        new Trainer(plugins(), new TrainingListener() { }).train(config, corpus, run);
        Path metricsFile = run.resolve("metrics.jsonl");
        byte[] before = Files.readAllBytes(metricsFile);
        Files.write(metricsFile, "{\"type\":\"train\",\"st".getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.APPEND);
        Path checkpoints = run.resolve("checkpoints");
        Files.writeString(checkpoints.resolve("index.json"), "{\"latest\": \"step-00");
        Path unfinished = Files.createDirectories(checkpoints.resolve(".writing-step-0000030-12345"));
        Files.writeString(unfinished.resolve("config.json"), "{");
        assertTrue(CheckpointStore.resolve(run, false).endsWith("step-0000020"), "a corrupt index is rebuilt");

        List<String> messages = new ArrayList<>();
        TrainingResult resumed = new Trainer(plugins(), new TrainingListener() {
            @Override
            public void onMessage(String message) {
                messages.add(message);
            }
        }).resume(run, Map.of("train.steps", "30"), corpus);
        assertEquals(30, resumed.steps());
        assertTrue(messages.stream().anyMatch(m -> m.contains("last line was cut short")), messages.toString());
        assertTrue(messages.stream().anyMatch(m -> m.contains("rebuilt it from the step directories")),
                messages.toString());
        assertFalse(Files.exists(unfinished), "the unfinished copy is removed");
        byte[] after = Files.readAllBytes(metricsFile);
        assertArrayEquals(before, Arrays.copyOf(after, before.length), "earlier lines are never rewritten");
        List<Map<?, ?>> train = metrics(run, "train");
        assertEquals(30, train.size());
        for (int i = 0; i < train.size(); i++) {
            assertEquals(i + 1L, train.get(i).get("step"));
        }
        Map<?, ?> index = (Map<?, ?>) Json.parse(Files.readString(checkpoints.resolve("index.json")), "index");
        assertEquals("step-0000030", index.get("latest"));
    }

    /** A resume marker makes readers drop what a run logged past the checkpoint it was resumed from. */
    @Test
    void metricsAfterAResumeMarkerReplaceTheStepsRunAgain(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, String.join("\n",
                "{\"type\":\"train\",\"step\":1,\"loss\":5.0}",
                "{\"type\":\"train\",\"step\":2,\"loss\":4.0}",
                "{\"type\":\"train\",\"step\":3,\"loss\":3.0}",
                "{\"type\":\"resume\",\"step\":1}",
                "{\"type\":\"train\",\"step\":2,\"loss\":4.5}",
                "not json",
                "{\"type\":\"train\",\"step\":3,\"loss\":3.5}",
                "{\"type\":\"tr"));
        MetricsLog.Contents contents = MetricsLog.read(file);
        assertEquals(List.of(5.0, 4.5, 3.5), contents.ofType("train").stream().map(r -> r.get("loss")).toList());
        assertEquals(2, contents.notes().size(), contents.notes().toString());
    }

    /** A run killed before its first checkpoint is neither lost nor stuck: --resume starts it again from step 0. */
    @Test
    void aRunKilledBeforeItsFirstCheckpointStartsAgain(@TempDir Path dir) throws IOException {
        ExperimentConfig config = tinyGpt(dir.resolve("cache"), "train.steps", "6");
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.writeString(run.resolve("config.json"), Json.write(config.asMap()));
        Files.writeString(run.resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":1,\"loss\":9.0}\n");
        KilnException taken = assertThrows(KilnException.class, () -> new Trainer(plugins(),
                new TrainingListener() { }).train(config, corpus, run));
        assertTrue(taken.getMessage().contains("kiln train --resume " + run), taken.getMessage());
        TrainingResult restarted = new Trainer(plugins(), new TrainingListener() { }).resume(run, Map.of(), corpus);
        assertEquals(6, restarted.steps());
        assertEquals(6, metrics(run, "train").size());
        assertTrue(((Number) metrics(run, "train").getFirst().get("loss")).doubleValue() != 9.0,
                "step 1 was run again");
    }
}
