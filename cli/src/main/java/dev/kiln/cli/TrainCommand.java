package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.task.Evaluation;
import dev.kiln.trainer.ExperimentConfig;
import dev.kiln.trainer.Trainer;
import dev.kiln.trainer.TrainingListener;
import dev.kiln.trainer.TrainingResult;
import dev.kiln.trainer.data.Corpus;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kiln train}: with no arguments, the bundled default experiment (a small GPT on tinyshakespeare with a BPE
 * tokenizer on the cpu backend). Layers, each over the one before: the trainer's defaults, the bundled experiment, the
 * {@code --config} file, the flags, then {@code key=value} arguments.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model; with no arguments, the default GPT on tinyshakespeare.")
final class TrainCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment file (.json, .yaml).")
    Path config;

    @Option(names = "--model", paramLabel = "ID", description = "Model plugin id (model.id).")
    String model;

    @Option(names = "--tokenizer", paramLabel = "ID", description = "Tokenizer plugin id (tokenizer.id).")
    String tokenizer;

    @Option(names = "--task", paramLabel = "ID", description = "Task plugin id (task.id; default lm).")
    String task;

    @Option(names = "--backend", paramLabel = "ID", description = "Backend plugin id (backend.id).")
    String backend;

    @Option(names = "--data", paramLabel = "PATH", description = "A text file or a directory (data.path); "
            + "default: the bundled tinyshakespeare.")
    String data;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue a run (its directory or a checkpoint).")
    Path resume;

    @Option(names = "--nproc", paramLabel = "N", description = "Train data-parallel on N processes of this machine "
            + "(starts mpirun -np N; train.batch_size is per process).")
    Integer nproc;

    @Option(names = "--out", paramLabel = "DIR", description = "Run directory (default: runs/<model>-<time>).")
    Path out;

    @Parameters(paramLabel = "KEY=VALUE", description = "Config overrides, e.g. train.steps=500 model.n_layer=6.")
    List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() {
        Map<String, String> layered = new LinkedHashMap<>();
        putIfSet(layered, "model.id", model);
        putIfSet(layered, "task.id", task);
        putIfSet(layered, "tokenizer.id", tokenizer);
        putIfSet(layered, "backend.id", backend);
        putIfSet(layered, "data.path", data);
        layered.putAll(ConfigFiles.overrides(overrides));

        if (nproc != null) {
            return launchRanks(nproc);
        }
        try (Communicator ranks = kiln.plugins().joinRanks()) {
            if (ranks.size() == 1) {
                return train(layered, ranks);
            }
            try {
                return train(layered, ranks);
            } catch (RuntimeException | Error e) {
                // this rank cannot go on: say why once, then end the job rather than leave the others waiting
                kiln.err.println("kiln: error on rank " + ranks.rank() + " of " + ranks.size() + ": "
                        + (e.getMessage() == null ? e.toString() : e.getMessage()));
                kiln.err.flush();
                ranks.abort(1);
                throw e;
            }
        }
    }

    private Integer train(Map<String, String> layered, Communicator ranks) {
        boolean writer = ranks.rank() == 0;
        ProgressPrinter progress = new ProgressPrinter(kiln.out, ProgressPrinter.stdoutIsTerminal());
        Trainer trainer = new Trainer(kiln.plugins(), writer ? progress : new TrainingListener() { }, ranks);
        TrainingResult result;
        try (Interruption interruption = Interruption.onSignal(ranks.size() == 1 ? trainer::requestStop
                : () -> stopRanks(trainer, ranks))) {
            if (resume != null) {
                if (config != null || out != null) {
                    throw new KilnException("--resume continues a run with its own config and directory; drop "
                            + "--config and --out (key=value overrides still apply)");
                }
                result = trainer.resume(resume, layered, bundledCorpus());
            } else {
                ExperimentConfig experiment = ExperimentConfig.defaults().with(bundledExperiment());
                if (config != null) {
                    experiment = experiment.with(ConfigFiles.read(config));
                }
                experiment = experiment.with(layered);
                pretrainBaseIfMissing(trainer, experiment);
                Path runDirectory = out != null ? out : Path.of(agreed(ranks, "runs/" + experiment.id("model") + "-"
                        + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
                result = trainer.train(experiment, bundledCorpus(), runDirectory);
            }
            if (writer) {
                report(result);
            }
        }
        return 0;
    }

    /**
     * A signal to a data-parallel job: mpirun sends it to every rank on Ctrl-C, and to the survivors when a rank has
     * died. Rank 0 says at once what happens next and where the last complete checkpoint is, since a job that lost a
     * rank cannot agree on a new one and mpirun soon ends the survivors too. The line is best effort: when mpirun
     * tears the job down it may end this rank, or stop forwarding its output, before the line gets out.
     */
    private void stopRanks(Trainer trainer, Communicator ranks) {
        if (ranks.rank() == 0) {
            Path last = trainer.latestCheckpoint();
            kiln.err.println("kiln: rank 0 of " + ranks.size() + ": the job is being stopped; the ranks finish the step "
                    + "in progress and write a checkpoint if all of them are still there (if a rank died, mpirun ends "
                    + "the others instead: see its message). The last complete checkpoint: "
                    + (last == null ? "none yet" : last + " (kiln train --resume " + last + ")"));
            kiln.err.flush();
        }
        trainer.requestStop();
    }

    /**
     * {@code --nproc N}: this same command again as N ranks under {@code mpirun} on this machine, waiting for them.
     * The ranks run the JVM this process runs, through {@code env} (mpirun rewrites a program named java).
     */
    private Integer launchRanks(int ranks) {
        if (ranks < 1) {
            throw new KilnException("--nproc must be at least 1, got " + ranks);
        }
        if (System.getenv("OMPI_COMM_WORLD_SIZE") != null) {
            throw new KilnException("--nproc starts mpirun itself; under mpirun, drop it (mpirun -np sets the ranks)");
        }
        ProcessHandle.Info self = ProcessHandle.current().info();
        List<String> arguments = new ArrayList<>(List.of(self.arguments().orElseThrow(() -> new KilnException(
                "--nproc: cannot read this JVM's command line to start the ranks; use mpirun -np " + ranks))));
        List<String> command = new ArrayList<>(List.of("mpirun", "-np", Integer.toString(ranks), "--bind-to", "none"));
        if (ranks > Runtime.getRuntime().availableProcessors()) {
            command.add("--oversubscribe");
        }
        command.add("/usr/bin/env");
        command.add(self.command().orElseThrow());
        for (int i = 0; i < arguments.size(); i++) {
            String a = arguments.get(i);
            if (a.equals("--nproc")) {
                i++;                                           // and its value
            } else if (!a.startsWith("--nproc=")) {
                command.add(a);
            }
        }
        ProcessBuilder builder = new ProcessBuilder(command).inheritIO();
        if ("root".equals(System.getProperty("user.name"))) {
            builder.environment().putIfAbsent("OMPI_ALLOW_RUN_AS_ROOT", "1");
            builder.environment().putIfAbsent("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        try {
            Process job = builder.start();
            Thread forward = new Thread(job::destroy);            // Ctrl-C here: mpirun passes SIGTERM to the ranks
            Runtime.getRuntime().addShutdownHook(forward);
            int code = job.waitFor();
            Runtime.getRuntime().removeShutdownHook(forward);
            return code;
        } catch (java.io.IOException e) {
            throw new KilnException("--nproc: cannot start mpirun (" + e.getMessage() + "); install Open MPI "
                    + "(apt-get install openmpi-bin)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KilnException("--nproc: interrupted while the ranks ran");
        }
    }

    /** Rank 0's value of a short string, on every rank (a run directory named after the time). */
    private static String agreed(Communicator ranks, String value) {
        byte[] bytes = java.util.Arrays.copyOf(value.getBytes(java.nio.charset.StandardCharsets.UTF_8), 512);
        ranks.broadcast(bytes, 0);
        int end = 0;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * train.init_config: when the base named by train.init_from does not exist yet, trains it first from that config
     * (layered over the bundled experiment, as a --config would be) into the init_from directory.
     */
    private void pretrainBaseIfMissing(Trainer trainer, ExperimentConfig experiment) {
        String initFrom = experiment.get("train.init_from");
        String initConfig = experiment.get("train.init_config");
        if (initFrom.isEmpty() || initConfig.isEmpty() || Files.exists(Path.of(initFrom))) {
            return;
        }
        kiln.out.println("kiln: the base " + initFrom + " does not exist yet: training it first with " + initConfig);
        ExperimentConfig base = ExperimentConfig.defaults().with(bundledExperiment())
                .with(ConfigFiles.read(Path.of(initConfig)));
        TrainingResult result = trainer.train(base, bundledCorpus(), Path.of(initFrom));
        if (result.stopReason() == TrainingResult.StopReason.INTERRUPTED) {
            throw new KilnException("training the base " + initFrom + " was interrupted; "
                    + "finish it (kiln train --resume " + initFrom + "), then run this command again");
        }
        report(result);
        kiln.out.println("kiln: base ready; fine-tuning from " + initFrom);
    }

    private void report(TrainingResult result) {
        kiln.out.println();
        Evaluation e = result.evaluation();
        if (e != null && e.metrics().containsKey("bits_per_byte")) {
            kiln.out.printf(Locale.ROOT, "validation: %.4f bits per byte (loss %.4f nats per token, perplexity %.2f, "
                    + "accuracy %.1f%%) after %d steps%n", e.metric("bits_per_byte"), e.loss(), e.metric("perplexity"),
                    100 * e.metric("accuracy"), result.steps());
        } else if (e != null) {
            kiln.out.printf(Locale.ROOT, "validation: loss %.4f%s after %d steps%n", e.loss(), ProgressPrinter.metrics(e),
                    result.steps());
        }
        kiln.out.printf(Locale.ROOT, "wall time: %.1f s (%s)%n", result.wallSeconds(),
                result.stopReason().name().toLowerCase(Locale.ROOT).replace('_', ' '));
        kiln.out.println("run saved in " + result.runDirectory() + " (latest checkpoint "
                + (result.lastCheckpoint() == null ? "none" : result.runDirectory().toAbsolutePath().normalize()
                        .relativize(result.lastCheckpoint().toAbsolutePath().normalize()))
                + ", metrics.jsonl, loss.svg)");
        kiln.out.flush();
    }

    private static void putIfSet(Map<String, String> map, String key, String value) {
        if (value != null) {
            map.put(key, value);
        }
    }

    /** The experiment `kiln train` runs with no arguments. */
    static Map<String, String> bundledExperiment() {
        try (InputStream in = TrainCommand.class.getResourceAsStream("default-experiment.json")) {
            if (in == null) {
                throw new KilnException("the bundled default-experiment.json is missing from the kiln cli jar");
            }
            return ConfigFiles.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8),
                    Path.of("default-experiment.json"));
        } catch (IOException e) {
            throw new KilnException("cannot read the bundled default experiment: " + e.getMessage(), e);
        }
    }

    /** tinyshakespeare, shipped inside the cli jar. */
    static Corpus bundledCorpus() {
        try (InputStream in = TrainCommand.class.getResourceAsStream("tinyshakespeare.txt")) {
            if (in == null) {
                throw new KilnException("the bundled tinyshakespeare.txt is missing from the kiln cli jar");
            }
            return Corpus.of("tinyshakespeare (bundled)", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new KilnException("cannot read the bundled corpus: " + e.getMessage(), e);
        }
    }
}
