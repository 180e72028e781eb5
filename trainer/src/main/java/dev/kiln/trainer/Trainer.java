package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.io.AtomicFiles;
import dev.kiln.api.io.Json;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.optim.LrSchedule;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.plugin.MissingOptionsException;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskProvider;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.checkpoint.RunLock;
import dev.kiln.trainer.checkpoint.SharedCheckpoint;
import dev.kiln.trainer.checkpoint.TrainingState;
import dev.kiln.trainer.data.CacheDirectory;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.data.TokenStream;
import dev.kiln.trainer.metrics.LossChart;
import dev.kiln.trainer.metrics.MetricsLog;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Runs an experiment: corpus → tokenizer (trained and cached, loaded, or a checkpoint's) → the task's batches → model
 * from its provider → one {@link TrainingStep} per step (the configured optimizer with warmup + cosine, clipping and
 * gradient accumulation) → the task's evaluations, checkpoints, metrics and a loss chart → a sample. The same loop
 * serves every task, model, tokenizer and backend, which it knows only by id.
 *
 * <p>Resuming a run's latest checkpoint continues exactly where it stopped: the weights, the optimizer moments, the
 * step (and with it the schedule), the model's random generator and the data cursor all come back, so the losses are
 * those of a run that never stopped (same backend and thread count).
 */
public final class Trainer {
    private static final double SAMPLE_TEMPERATURE = 0.8;
    private static final int SAMPLE_TOP_K = 200;

    private final Plugins plugins;
    private final TrainingListener listener;
    private final Communicator ranks;
    private volatile boolean stopRequested;
    private volatile Path latestCheckpoint;

    public Trainer(Plugins plugins, TrainingListener listener) {
        this(plugins, listener, Communicator.single());
    }

    /**
     * A trainer that is one rank of a data-parallel run: every rank runs the same experiment on its shard of each
     * global batch; only rank 0 takes the run directory's lock and writes checkpoints, metrics and the loss chart.
     */
    public Trainer(Plugins plugins, TrainingListener listener, Communicator ranks) {
        this.plugins = plugins;
        this.listener = listener;
        this.ranks = ranks;
    }

    private boolean writer() {
        return ranks.rank() == 0;
    }

    private RunLock lock(Path runDirectory) {
        return writer() ? RunLock.acquire(runDirectory) : null;
    }

    /** The newest complete checkpoint of the run in progress (null before the first); safe from any thread. */
    public Path latestCheckpoint() {
        return latestCheckpoint;
    }

    /**
     * Asks the run to stop after the step in progress; it writes a checkpoint and returns. Safe from any thread (a
     * signal handler calls it).
     */
    public void requestStop() {
        stopRequested = true;
    }

    /**
     * Starts a new run in {@code runDirectory}, which must not hold one already. {@code fallbackCorpus} is used when
     * the config names no {@code data.path} (the CLI passes its bundled corpus; null means data.path is required).
     */
    public TrainingResult train(ExperimentConfig config, Corpus fallbackCorpus, Path runDirectory) {
        boolean taken = Files.isDirectory(runDirectory.resolve(CheckpointStore.FOLDER))
                || Files.isRegularFile(runDirectory.resolve(RUN_CONFIG));
        ranks.barrier();                                   // every rank looked before rank 0 writes anything
        try (RunLock lock = lock(runDirectory)) {
            if (taken) {
                boolean noCheckpoint = new CheckpointStore(runDirectory, Integer.MAX_VALUE).latest().isEmpty();
                throw new KilnException("run directory " + runDirectory + (noCheckpoint
                        ? " holds a run that stopped before its first checkpoint; start it again from step 0 with "
                        + "kiln train --resume " + runDirectory + ", or choose another --out"
                        : " already holds a run; resume it with --resume " + runDirectory + " or choose another --out"));
            }
            return run(config, fallbackCorpus, runDirectory, null);
        }
    }

    /**
     * Continues the run a checkpoint belongs to (a run directory means its latest checkpoint), with its own config
     * and {@code overrides} laid over it: those that can change on resume are applied and reported (changing the
     * schedule's length changes the losses from then on); any other is refused ({@link ExperimentConfig#resumedWith}).
     * A run that stopped before its first checkpoint starts again from step 0 with its saved config.
     */
    public TrainingResult resume(Path checkpointOrRun, Map<String, String> overrides, Corpus fallbackCorpus) {
        if (ranks.size() > 1) {
            // rank 0's checkpoint, sent to every rank: the others need not see rank 0's filesystem
            SharedCheckpoint.Received copy = SharedCheckpoint.share(ranks, () -> resumePlan(checkpointOrRun),
                    localCopies());
            if (copy.path() != null) {
                try {
                    return resumeHere(copy.path(), overrides, fallbackCorpus);
                } finally {
                    SharedCheckpoint.delete(copy.folder());
                }
            }
        }
        return resumeHere(checkpointOrRun, overrides, fallbackCorpus);
    }

    /** What rank 0 sends the other ranks to resume {@code checkpointOrRun}: its checkpoint, or the run's config. */
    private static SharedCheckpoint.Plan resumePlan(Path checkpointOrRun) {
        boolean checkpointItself = Files.isRegularFile(checkpointOrRun.resolve(Checkpoint.WEIGHTS))
                || Files.isRegularFile(checkpointOrRun.resolve(PeftAdapter.WEIGHTS));
        if (!checkpointItself && Files.isRegularFile(checkpointOrRun.resolve(RUN_CONFIG))
                && new CheckpointStore(checkpointOrRun, Integer.MAX_VALUE).latest().isEmpty()) {
            return SharedCheckpoint.runFiles(checkpointOrRun, List.of(RUN_CONFIG));
        }
        return SharedCheckpoint.checkpoint(CheckpointStore.resolve(checkpointOrRun, false));
    }

    /** Where ranks other than 0 keep their copies of rank 0's checkpoints while a run reads them. */
    private static Path localCopies() {
        return Path.of(System.getProperty("java.io.tmpdir"), "kiln-checkpoints");
    }

    private TrainingResult resumeHere(Path checkpointOrRun, Map<String, String> overrides, Corpus fallbackCorpus) {
        boolean checkpointItself = Files.isRegularFile(checkpointOrRun.resolve(Checkpoint.WEIGHTS))
                || Files.isRegularFile(checkpointOrRun.resolve(PeftAdapter.WEIGHTS));
        if (!checkpointItself && Files.isRegularFile(checkpointOrRun.resolve(RUN_CONFIG))
                && new CheckpointStore(checkpointOrRun, Integer.MAX_VALUE).latest().isEmpty()) {
            return restart(checkpointOrRun, overrides, fallbackCorpus);
        }
        Path directory = CheckpointStore.resolve(checkpointOrRun, false);
        Checkpoint checkpoint = Checkpoint.open(directory);
        if (checkpoint.trainingState().isEmpty() || checkpoint.experiment().isEmpty()) {
            throw new KilnException("checkpoint " + directory + " has no training state to resume; start a new run "
                    + "with train.init_from=" + directory + " to fine-tune from its weights");
        }
        Path runDirectory = CheckpointStore.runOf(directory).orElseThrow(() -> new KilnException("checkpoint "
                + directory + " is not inside a run's " + CheckpointStore.FOLDER + "/ folder, so there is no run to "
                + "continue; copy it into one or fine-tune from it with train.init_from"));
        ExperimentConfig saved = ExperimentConfig.of(checkpoint.experiment());
        ExperimentConfig config = saved.resumedWith(overrides, sameGlobalBatch(saved, overrides,
                checkpoint.trainingState().orElseThrow().ranks()), listener::onMessage);
        try (RunLock lock = lock(runDirectory)) {
            tidy(runDirectory);
            // the latest checkpoint again, now that no other writer can be adding one
            Checkpoint latest = Checkpoint.open(CheckpointStore.resolve(checkpointOrRun, false));
            return run(config, fallbackCorpus, runDirectory, latest);
        }
    }

    /**
     * The per-rank batch keys a resume may change: those that keep the global batch (rows per rank × micro-batches ×
     * ranks) the checkpoint was trained with — a 2-rank run of 4 rows goes on in one process of 8. Otherwise none,
     * and when only the number of ranks changes the global batch, the run says so.
     */
    private Set<String> sameGlobalBatch(ExperimentConfig saved, Map<String, String> overrides, int savedRanks) {
        ExperimentConfig asked;
        try {
            asked = saved.with(overrides);
        } catch (KilnException e) {
            return Set.of();                    // resumedWith names the mistake
        }
        long before = (long) saved.train().batchSize() * saved.train().gradAccum() * savedRanks;
        long now = (long) asked.train().batchSize() * asked.train().gradAccum() * ranks.size();
        if (before == now) {
            return Set.of("train.batch_size", "train.grad_accum");
        }
        if (saved.train().batchSize() == asked.train().batchSize()
                && saved.train().gradAccum() == asked.train().gradAccum()) {
            listener.onMessage("resume: the global batch was " + before + " rows (" + savedRanks + " rank"
                    + (savedRanks == 1 ? "" : "s") + "), now " + now + " (" + ranks.size() + "); set train.batch_size "
                    + "to keep it");
        }
        return Set.of();
    }

    /** A run directory with its config but no checkpoint (killed before the first): the same run from step 0. */
    private TrainingResult restart(Path runDirectory, Map<String, String> overrides, Corpus fallbackCorpus) {
        Map<String, String> saved = new LinkedHashMap<>();
        Path file = runDirectory.resolve(RUN_CONFIG);
        try {
            if (!(Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString()) instanceof Map<?, ?> map)) {
                throw new KilnException(file + " is not a JSON object of config keys");
            }
            map.forEach((k, v) -> saved.put(String.valueOf(k), String.valueOf(v)));
        } catch (IOException e) {
            throw new KilnException("cannot read " + file + ": " + e.getMessage(), e);
        }
        ExperimentConfig config = ExperimentConfig.of(saved).resumedWith(overrides, Set.of(), listener::onMessage);
        try (RunLock lock = lock(runDirectory)) {
            tidy(runDirectory);
            listener.onMessage("run " + runDirectory + " stopped before its first checkpoint: starting it again from "
                    + "step 0 with its " + RUN_CONFIG);
            return run(config, fallbackCorpus, runDirectory, null);
        }
    }

    /** The writer clears what an interrupted save left and rebuilds a missing or corrupt checkpoint index. */
    private void tidy(Path runDirectory) {
        if (!writer()) {
            return;
        }
        CheckpointStore store = new CheckpointStore(runDirectory, Integer.MAX_VALUE);
        store.cleanUp().forEach(listener::onMessage);
        store.repairIndex().ifPresent(listener::onMessage);
    }

    private static final String RUN_CONFIG = "config.json";
    private static final String METRICS = "metrics.jsonl";

    private TrainingResult run(ExperimentConfig config, Corpus fallbackCorpus, Path runDirectory, Checkpoint resumed) {
        TrainSettings settings = config.train();
        // unknown plugin ids and an unavailable backend fail now, before minutes of tokenizer training
        plugins.availableBackend(config.id("backend"));
        plugins.tasks().get(config.id("task"));
        if (resumed == null && settings.initFrom().isEmpty()) {
            plugins.models().get(config.id("model"));
            plugins.tokenizers().get(config.id("tokenizer"));
        }
        if (resumed == null && !settings.initFrom().isEmpty() && ranks.size() > 1) {
            SharedCheckpoint.Received copy = SharedCheckpoint.share(ranks, () -> SharedCheckpoint.checkpoint(
                    CheckpointStore.resolve(Path.of(settings.initFrom()), true)), localCopies());
            try {
                return run(config, fallbackCorpus, runDirectory, null, copy.path());
            } finally {
                SharedCheckpoint.delete(copy.folder());
            }
        }
        return run(config, fallbackCorpus, runDirectory, resumed, null);
    }

    /** {@code initCopy}: this rank's copy of rank 0's {@code train.init_from} checkpoint, or null to read the path. */
    private TrainingResult run(ExperimentConfig config, Corpus fallbackCorpus, Path runDirectory, Checkpoint resumed,
                               Path initCopy) {
        long wallStart = System.nanoTime();
        TrainSettings settings = config.train();
        DataSettings data = config.data();
        BackendProvider backendProvider = plugins.availableBackend(config.id("backend"));
        TaskProvider taskProvider = plugins.tasks().get(config.id("task"));
        Corpus corpus = corpus(data, fallbackCorpus);
        Path sharedCache = data.cache().isEmpty() ? CacheDirectory.defaultLocation() : Path.of(data.cache());
        // each rank builds its own (identical) tokenizer and token caches: no two processes write one file
        Path cache = writer() ? sharedCache : sharedCache.resolve("rank-" + ranks.rank());

        Checkpoint initial = resumed != null ? resumed
                : initCopy != null ? Checkpoint.open(initCopy)
                : settings.initFrom().isEmpty() ? null : Checkpoint.open(CheckpointStore.resolve(Path.of(settings.initFrom()), true));
        TokenizerSource source = initial != null
                ? new TokenizerSource(initial.loadTokenizer(plugins.tokenizers().get(initial.tokenizerId())),
                        initial.directory().resolve(Checkpoint.TOKENIZER))
                : tokenizer(config, corpus, data.valFraction(), cache);
        Tokenizer loaded = source.tokenizer();
        Tokenizer tokenizer = loaded.withSpecialTokens(taskProvider.specialTokens(config.pluginOptions("task")));
        if (tokenizer != loaded) {
            List<String> added = tokenizer.specialTokens().keySet().stream()
                    .filter(t -> !loaded.specialTokens().containsKey(t)).toList();
            listener.onMessage("tokenizer: added the special tokens " + added + " the " + taskProvider.id()
                    + " task writes (vocabulary " + loaded.vocabSize() + " → " + tokenizer.vocabSize() + ")");
            source = new TokenizerSource(tokenizer, source.file());
        }
        String tokenizerDigest = source.digest();
        RunData runData = new RunData(corpus, data.valFraction(), tokenizer, () -> {
            TokenStream tokens = TokenStream.load(corpus, data.valFraction(), tokenizer, tokenizerDigest, cache);
            listener.onMessage("data: " + corpus.name() + " → " + tokens.train().limit() + " training and "
                    + tokens.validation().limit() + " validation tokens (" + tokenizer.id() + ", vocabulary "
                    + tokenizer.vocabSize() + (tokens.reused() ? ", cached" : "") + ")");
            return tokens;
        }, listener::onMessage);
        Task task;
        Backend backend;
        try {
            task = taskProvider.create(runData, config.pluginOptions("task"));
        } catch (MissingOptionsException e) {
            throw e.inSection("task");
        }
        try {
            backend = backendProvider.create(config.pluginOptions("backend"));
        } catch (MissingOptionsException e) {
            throw e.inSection("backend");
        }
        try {
            return loop(config, settings, runDirectory, resumed, initial, tokenizer, task, runData, backend, wallStart);
        } finally {
            backend.close();
        }
    }

    private TrainingResult loop(ExperimentConfig config, TrainSettings settings, Path runDirectory, Checkpoint resumed,
                                Checkpoint initial, Tokenizer tokenizer, Task task, RunData data, Backend backend,
                                long wallStart) {
        Generator generator = new Generator(settings.seed());
        LanguageModel model = initial != null
                ? initial.loadModel(plugins.models().get(initial.modelId()), backend, generator)
                : newModel(config, tokenizer, backend, generator);
        int baseVocabulary = model.vocabSize();
        Map<String, String> grownTables = Map.of();
        if (model.vocabSize() < tokenizer.vocabSize()) {
            if (initial == null || resumed != null) {
                throw new KilnException("model vocab_size " + model.vocabSize() + " is smaller than the tokenizer's "
                        + tokenizer.vocabSize());
            }
            grownTables = model.growVocabulary(tokenizer.vocabSize());
            listener.onMessage("model: vocabulary grown from " + baseVocabulary + " to " + model.vocabSize()
                    + " tokens (new embedding rows start at the mean of the old ones)");
        }
        Checkpoint.Adapter adapter = lora(settings, resumed, initial, model, generator, grownTables, baseVocabulary);
        if (settings.context() > model.maxContext()) {
            throw new KilnException("train.context " + settings.context() + " is longer than the " + model.modelId()
                    + " model accepts (" + model.maxContext() + "); lower train.context or raise the model's context "
                    + "length (n_positions for gpt)");
        }
        if (!task.modelKinds().contains(model.kind())) {
            throw new KilnException("task " + task.id() + " trains " + task.modelKinds().stream()
                    .map(ModelKind::description).sorted().toList() + "; model " + model.modelId() + " is "
                    + model.kind().description() + (model.kind() == ModelKind.ENCODER_DECODER
                    ? ": train it with the task seq2seq on paired data (data.path: JSONL with source and target, or "
                    + "TSV), as examples/numbers-to-words/config.yaml does" : ""));
        }
        Map<String, Tensor> trainable = model.namedTrainableParameters();
        Optimizer optimizer = settings.createOptimizer(trainable);
        long trainableCount = trainable.values().stream().mapToLong(Tensor::numel).sum();
        long stateFloats = trainableCount * switch (settings.optimizer()) {
            case "sgd" -> settings.momentum() > 0 ? 1 : 0;
            default -> 2;                                                  // Adam's first and second moments
        };
        listener.onMessage(String.format("parameters: %,d trainable of %,d (%.2f %%); optimizer state %,d floats",
                trainableCount, model.parameterCount(), 100.0 * trainableCount / model.parameterCount(), stateFloats));
        ChatTemplate template = task.chatTemplate().orElseGet(() -> initial == null ? null
                : initial.chatTemplate().orElse(null));
        BatchStream batches = task.trainBatches(settings.batchSize(), settings.context(), settings.seed(),
                ranks.rank(), ranks.size());
        TrainingStep trainingStep = new TrainingStep(model, task::loss, optimizer).clipGradients(settings.gradClip())
                .measureGradientNorm(true);
        DataParallel dataParallel = null;
        if (ranks.size() > 1) {
            DataParallel.checkSameStart(ranks, config.asMap(), trainable);
            dataParallel = new DataParallel(ranks);
            trainingStep.distributed(ranks).onGradientReady(dataParallel);
            listener.onMessage("data parallel: rank " + ranks.rank() + " of " + ranks.size() + ", "
                    + settings.batchSize() + " rows each (a global batch of " + ranks.size() * settings.batchSize()
                    + ")");
        }
        LrSchedule schedule = settings.lrSchedule();

        int step = 0;
        double bestLoss = Double.POSITIVE_INFINITY;
        int bestStep = -1;
        int sinceBest = 0;
        double elapsedBefore = 0;
        if (resumed != null) {
            TrainingState state = resumed.trainingState().orElseThrow();
            optimizer.restoreState(state.optimizer());
            generator.restore(state.generator());
            batches.seek(state.dataCursor());
            step = state.step();
            bestLoss = state.bestValidationLoss();
            bestStep = state.bestStep();
            sinceBest = state.evaluationsSinceBest();
            elapsedBefore = state.elapsedSeconds();
            listener.onMessage("resuming " + resumed.directory() + " at step " + step);
        } else if (initial != null) {
            listener.onMessage("fine-tuning from " + initial.directory() + " (step " + initial.step() + ")");
        }
        if (ranks.rank() > 0) {
            // the same weights as rank 0 but its own dropout masks: rank 0's seed offset by the rank, at rank 0's
            // counter. Every rank draws as many seeds per step (the same shapes), so the counters stay equal, and a
            // resume from rank 0's saved state puts every rank back on its own stream exactly
            long[] shared = generator.state();
            generator.restore(new long[] {shared[0] * 0x9E3779B97F4A7C15L + ranks.rank(), shared[1]});
        }
        if (writer()) {
            writeRunConfig(runDirectory, config);
        }
        CheckpointStore store = new CheckpointStore(runDirectory, settings.keep());
        Path lastCheckpoint = resumed != null ? resumed.directory() : null;
        latestCheckpoint = lastCheckpoint;
        Evaluation lastEvaluation = null;
        TrainingResult.StopReason reason = TrainingResult.StopReason.COMPLETED;

        listener.onStart(runDirectory, step, settings.steps(), model.parameterCount());
        try (DataParallel closing = dataParallel;
             MetricsLog metrics = writer() ? MetricsLog.open(runDirectory.resolve(METRICS),
                     resumed != null ? step : -1, listener::onMessage) : MetricsLog.discarding()) {
            long loopStart = System.nanoTime();
            int badInARow = 0;
            double intervalLoss = 0;
            int intervalSteps = 0;
            long intervalTargets = 0;
            long intervalStart = System.nanoTime();
            model.train(true);
            while (step < settings.steps()) {
                if (ranks.sum(stopRequested ? 1 : 0) > 0) {           // every rank stops at the same step
                    reason = TrainingResult.StopReason.INTERRUPTED;
                    break;
                }
                double lr = schedule.lr(step);
                optimizer.setLearningRate(lr);
                double loss;
                double gradNorm;
                long targets;
                try (MemoryScope scope = MemoryScope.open()) {
                    List<Batch> microBatches = new ArrayList<>(settings.gradAccum());
                    for (int micro = 0; micro < settings.gradAccum(); micro++) {
                        microBatches.add(batches.next(backend));
                    }
                    TrainingStep.Result result = trainingStep.run(microBatches);
                    loss = result.loss();
                    gradNorm = result.gradNorm();
                    targets = result.targets();
                }
                step++;
                if (!Double.isFinite(loss) || !Double.isFinite(gradNorm)) {
                    badInARow++;
                    String why = "loss " + loss + ", gradient norm " + gradNorm;
                    listener.onSkippedStep(step, why);
                    metrics.write(record("skip", step, "loss", String.valueOf(loss), "grad_norm",
                            String.valueOf(gradNorm)));
                    if (badInARow >= settings.maxBadSteps()) {
                        throw new KilnException("training stopped at step " + step + ": " + badInARow
                                + " steps in a row had a non-finite loss or gradient (" + why + "); "
                                + (lastCheckpoint == null ? "no checkpoint was written before it"
                                : "the last good checkpoint is " + lastCheckpoint)
                                + ". Try a lower train.lr or train.grad_clip");
                    }
                    continue;
                }
                badInARow = 0;
                intervalLoss += loss;
                intervalSteps++;
                intervalTargets += targets;
                double elapsed = elapsedBefore + (System.nanoTime() - loopStart) / 1e9;
                if (step % settings.logEvery() == 0 || step == settings.steps()) {
                    double seconds = (System.nanoTime() - intervalStart) / 1e9;
                    double tokensPerSecond = intervalTargets / Math.max(seconds, 1e-9);       // scored targets per second
                    metrics.write(record("train", step, "loss", intervalLoss / intervalSteps, "lr", lr, "grad_norm",
                            gradNorm, "tokens_per_s", tokensPerSecond, "elapsed", elapsed));
                    listener.onStep(new TrainingListener.StepReport(step, settings.steps(), intervalLoss / intervalSteps,
                            lr, gradNorm, tokensPerSecond, elapsed));
                    intervalLoss = 0;
                    intervalSteps = 0;
                    intervalTargets = 0;
                    intervalStart = System.nanoTime();
                }
                boolean outOfTime = ranks.sum(settings.timeBudgetSeconds() > 0
                        && (System.nanoTime() - loopStart) / 1e9 >= settings.timeBudgetSeconds() ? 1 : 0) > 0;
                if (step % settings.evalEvery() == 0 || step == settings.steps() || outOfTime) {
                    lastEvaluation = task.evaluate(model, backend, settings.batchSize(), settings.context(),
                            settings.evalTokens());
                    boolean best = lastEvaluation.loss() < bestLoss;
                    if (best) {
                        bestLoss = lastEvaluation.loss();
                        bestStep = step;
                        sinceBest = 0;
                    } else {
                        sinceBest++;
                    }
                    metrics.write(evaluationRecord(step, lastEvaluation, elapsed));
                    listener.onEvaluation(step, lastEvaluation, best);
                    if (writer()) {
                        LossChart.write(runDirectory.resolve("loss.svg"), model.modelId() + " on " + tokenizer.id()
                                + " tokens", metrics.trainLoss(), metrics.validationLoss());
                        TrainingState state = new TrainingState(step, optimizer.exportState(), generator.state(),
                                batches.cursor(), bestLoss, bestStep, sinceBest, elapsed, ranks.size());
                        lastCheckpoint = save(store, step, best, model, tokenizer, config, state, template, adapter);
                    }
                    if (settings.patience() > 0 && sinceBest >= settings.patience()) {
                        reason = TrainingResult.StopReason.EARLY_STOPPING;
                        listener.onMessage("stopping early: no improvement in " + sinceBest + " evaluations (best "
                                + String.format("%.4f", bestLoss) + " at step " + bestStep + ")");
                        break;
                    }
                }
                if (outOfTime && step < settings.steps()) {
                    reason = TrainingResult.StopReason.TIME_BUDGET;
                    listener.onMessage("stopping: the time budget of " + settings.timeBudgetSeconds() + " s ran out");
                    break;
                }
            }
            if (dataParallel != null) {
                double[] seconds = dataParallel.communicationSeconds();
                listener.onMessage(String.format(java.util.Locale.ROOT, "data parallel: %.2f s summing gradients "
                        + "across %d ranks, %.2f s of it waited for (%.0f %% hidden behind the backward pass)",
                        seconds[0], ranks.size(), seconds[1],
                        seconds[0] > 0 ? 100 * Math.max(0, 1 - seconds[1] / seconds[0]) : 0));
            }
            if (writer() && reason == TrainingResult.StopReason.INTERRUPTED
                    && (lastCheckpoint == null || !lastCheckpoint.getFileName().toString().equals(CheckpointStore.stepName(step)))) {
                double elapsed = elapsedBefore + (System.nanoTime() - loopStart) / 1e9;
                TrainingState state = new TrainingState(step, optimizer.exportState(), generator.state(),
                        batches.cursor(), bestLoss, bestStep, sinceBest, elapsed, ranks.size());
                lastCheckpoint = save(store, step, false, model, tokenizer, config, state, template, adapter);
            }
        }
        String sample = reason == TrainingResult.StopReason.INTERRUPTED || model.kind() != ModelKind.DECODER ? ""
                : sample(model, tokenizer, settings, data);
        return new TrainingResult(runDirectory, lastCheckpoint, step, lastEvaluation, reason,
                (System.nanoTime() - wallStart) / 1e9, sample);
    }

    /**
     * With train.lora.r set: a fresh adapter on the init_from model (base frozen; rows added to the vocabulary stay
     * trainable), or, when resuming, the adapter the checkpoint brought back. Null for full fine-tuning.
     */
    private Checkpoint.Adapter lora(TrainSettings settings, Checkpoint resumed, Checkpoint initial, LanguageModel model,
                                    Generator generator, Map<String, String> grownTables, int baseVocabulary) {
        LoraConfig lora = settings.lora();
        if (resumed != null) {
            if (resumed.isAdapter() != (lora != null)) {
                throw new KilnException("checkpoint " + resumed.directory() + (resumed.isAdapter()
                        ? " holds a LoRA adapter, but train.lora.r is 0" : " holds full weights, but train.lora.r is set")
                        + "; resume with the run's own train.lora settings");
            }
            if (lora == null) {
                return null;
            }
            Path base = resumed.base().orElseThrow();
            return new Checkpoint.Adapter(lora, base, Checkpoint.weightsDigest(base));
        }
        if (lora == null) {
            return null;
        }
        if (initial == null) {
            throw new KilnException("train.lora.r is set but train.init_from is empty: LoRA adapts a trained model; "
                    + "name its checkpoint in train.init_from");
        }
        if (initial.isAdapter()) {
            throw new KilnException("train.init_from " + initial.directory() + " is a LoRA checkpoint; merge it into "
                    + "its base first (kiln merge --checkpoint " + initial.directory() + " --out DIR)");
        }
        List<LoraConfig.Target> targets = lora.apply(model, generator);
        PeftAdapter.attachTokenRows(model, grownTables, baseVocabulary);
        listener.onMessage("lora: r=" + lora.rank() + ", alpha " + lora.alpha() + ", on " + targets.size()
                + " projections (" + String.join(", ", lora.targetModules()) + ")" + (grownTables.isEmpty() ? ""
                : "; the " + (model.vocabSize() - baseVocabulary) + " new token rows train too"));
        return new Checkpoint.Adapter(lora, initial.directory(), Checkpoint.weightsDigest(initial.directory()));
    }

    private Path save(CheckpointStore store, int step, boolean best, LanguageModel model, Tokenizer tokenizer,
                      ExperimentConfig config, TrainingState state, ChatTemplate template,
                      Checkpoint.Adapter adapter) {
        Path written = store.save(step, best, target -> Checkpoint.write(target, model, tokenizer, config.asMap(),
                state, template, adapter));
        latestCheckpoint = written;
        listener.onCheckpoint(step, written);
        return written;
    }

    private String sample(LanguageModel model, Tokenizer tokenizer, TrainSettings settings, RunData data) {
        if (settings.sampleTokens() == 0) {
            return "";
        }
        int[] prompt = tokenizer.encode(settings.samplePrompt());
        if (prompt.length == 0) {
            prompt = data.tokenized() ? new int[] {data.tokens(Split.VALIDATION).get(0)} : tokenizer.encode("\n");
        }
        TokenTextStream text = new TokenTextStream(tokenizer);
        StringBuilder sample = new StringBuilder(settings.samplePrompt());
        listener.onSampleText(settings.samplePrompt());
        Sampling sampling = new Sampling(SAMPLE_TEMPERATURE, SAMPLE_TOP_K, 1.0, settings.seed(), settings.sampleTokens(),
                Set.of());
        TextGeneration.generate(model, prompt, sampling, token -> {
            String piece = text.accept(token);
            sample.append(piece);
            listener.onSampleText(piece);
        });
        String rest = text.flush();
        sample.append(rest);
        listener.onSampleText(rest);
        return sample.toString();
    }

    private static Corpus corpus(DataSettings data, Corpus fallback) {
        if (!data.path().isEmpty()) {
            return Corpus.read(Path.of(data.path()));
        }
        if (fallback == null) {
            throw new KilnException("no training data: set data.path (--data) to a text file or a directory");
        }
        return fallback;
    }

    private LanguageModel newModel(ExperimentConfig config, Tokenizer tokenizer, Backend backend, Generator generator) {
        ModelProvider provider = plugins.models().get(config.id("model"));
        Map<String, String> options = new LinkedHashMap<>(config.pluginOptions("model").values());
        options.putIfAbsent("vocab_size", Integer.toString(tokenizer.vocabSize()));
        try {
            return provider.create(backend, new Options(options), generator);
        } catch (MissingOptionsException e) {
            throw e.inSection("model");
        }
    }

    /** A tokenizer and the file it was read from or saved to. */
    private record TokenizerSource(Tokenizer tokenizer, Path file) {
        /** What token caches are keyed by: the file's bytes and the special tokens (a rank file keeps them beside it). */
        String digest() {
            try {
                return Corpus.sha256((Corpus.sha256(Files.readAllBytes(file)) + "|" + new TreeMap<>(
                        tokenizer.specialTokens())).getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new KilnException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * "" when a trained tokenizer reached the {@code vocab_size} asked for (or none was), else a note that says it
     * stopped short: the corpus had no pair left to merge.
     */
    public static String vocabularyShortfall(Options options, Tokenizer trained) {
        if (!options.has("vocab_size")) {
            return "";
        }
        int asked = options.intOption("vocab_size", 0);
        int learned = trained.vocabSize() - trained.specialTokens().size();
        return learned < asked ? String.format(" (of the %d asked for: the corpus has no pair left to merge)", asked)
                : "";
    }

    /** The tokenizer a config asks for: loaded from tokenizer.path, or trained on the training split and cached. */
    private TokenizerSource tokenizer(ExperimentConfig config, Corpus corpus, double valFraction, Path cache) {
        TokenizerProvider provider = plugins.tokenizers().get(config.id("tokenizer"));
        String path = config.asMap().getOrDefault("tokenizer.path", "");
        if (!path.isEmpty()) {
            Tokenizer loaded = provider.load(Path.of(path));
            listener.onMessage("tokenizer: loaded " + path);
            return new TokenizerSource(loaded, Path.of(path));
        }
        Options options = config.pluginOptions("tokenizer");
        String key = Corpus.sha256((corpus.sha256() + "|" + valFraction + "|" + provider.id() + "|" + new TreeMap<>(options.values()))
                .getBytes(StandardCharsets.UTF_8)).substring(0, 24);
        Path file = cache.resolve("tokenizer-" + key + ".json");
        if (Files.isRegularFile(file)) {
            try {
                Tokenizer cached = provider.load(file);
                listener.onMessage("tokenizer: reused " + file);
                return new TokenizerSource(cached, file);
            } catch (KilnException e) {
                listener.onMessage("tokenizer: cache " + file + " is unreadable (" + e.getMessage() + "); retraining");
            }
        }
        long start = System.nanoTime();
        Tokenizer trained;
        try {
            trained = provider.train(corpus.split(valFraction)[0], options);
        } catch (MissingOptionsException e) {
            throw e.inSection("tokenizer");
        }
        AtomicFiles.replace(file, "tokenizer cache", trained::save);
        listener.onMessage(String.format("tokenizer: trained %s, vocabulary %d%s, in %.2f s", provider.id(),
                trained.vocabSize(), vocabularyShortfall(options, trained), (System.nanoTime() - start) / 1e9));
        return new TokenizerSource(trained, file);
    }

    private static void writeRunConfig(Path runDirectory, ExperimentConfig config) {
        AtomicFiles.replace(runDirectory.resolve(RUN_CONFIG), "run config", Json.write(config.asMap()));
    }

    /** {"type":"eval","step":…,"val_loss":…,"val_<metric>":… for each of the task's metrics,"elapsed":…}. */
    private static Map<String, Object> evaluationRecord(int step, Evaluation evaluation, double elapsed) {
        Map<String, Object> record = record("eval", step, "val_loss", evaluation.loss());
        evaluation.metrics().forEach((name, value) -> record.put("val_" + name, value));
        record.put("elapsed", elapsed);
        return record;
    }

    private static Map<String, Object> record(String type, int step, Object... keyValues) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("type", type);
        record.put("step", step);
        for (int i = 0; i < keyValues.length; i += 2) {
            record.put((String) keyValues[i], keyValues[i + 1]);
        }
        return record;
    }
}
