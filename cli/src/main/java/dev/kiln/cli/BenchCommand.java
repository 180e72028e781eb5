package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Task;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.trainer.TrainingStep;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kiln bench}: one reference workload (DESIGN.md) on several backends side by side. Every backend builds the
 * model from the same seed and sees the same batch, so besides tokens/s the table shows how far each backend's logits
 * and gradients are from the first backend's (the cpu backend by default). A quick comparison, not a JMH benchmark.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Compare backends on a reference workload: tokens/s and numeric agreement.")
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Option(names = "--workload", paramLabel = "NAME", defaultValue = "gpt-mini",
            description = "gpt-mini or lstm-seed.")
    String workload;

    @Option(names = "--backends", paramLabel = "IDS", split = ",",
            description = "Backend ids, the first the reference (default: every available backend, cpu first).")
    List<String> backends;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "5", description = "Timed training steps.")
    int steps;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "2", description = "Untimed steps first.")
    int warmup;

    @Option(names = "--batch-size", paramLabel = "B", description = "Override the workload's batch size.")
    Integer batchSize;

    private record Workload(String model, Options options, int batch, int time) {
    }

    private Workload workload() {
        return switch (workload) {
            case "gpt-mini" -> new Workload("gpt", Options.of("vocab_size", "4096", "n_positions", "128", "n_layer",
                    "4", "n_head", "4", "n_embd", "256"), 16, 128);
            case "lstm-seed" -> new Workload("lstm", Options.of("vocab_size", "10000", "embed_size", "256",
                    "hidden_size", "512", "num_layers", "2"), 16, 64);
            default -> throw new KilnException("unknown workload '" + workload + "'; workloads: gpt-mini, lstm-seed");
        };
    }

    @Override
    public Integer call() {
        Workload w = workload();
        int batch = batchSize != null ? batchSize : w.batch();
        List<String> ids = backends != null ? backends : availableBackends();
        int vocab = w.options().intOption("vocab_size");
        SplittableRandom random = new SplittableRandom(7);
        int[] x = new int[batch * w.time()];
        int[] y = new int[batch * w.time()];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextInt(vocab);
            y[i] = random.nextInt(vocab);
        }
        kiln.out.printf(Locale.ROOT, "%s: %s %s, batch %d × %d, Adam; %d timed steps after %d warm-up%n", workload,
                w.model(), w.options().values(), batch, w.time(), steps, warmup);
        kiln.out.printf(Locale.ROOT, "%-10s %12s %14s %14s%n", "BACKEND", "TOKENS/S", "MAX |ΔLOGIT|", "MAX |ΔGRAD|");
        float[] referenceLogits = null;
        Map<String, float[]> referenceGrads = null;
        for (String id : ids) {
            try (Backend backend = kiln.plugins().backend(id, Options.defaults())) {
                LanguageModel model = kiln.plugins().models().get(w.model()).create(backend, w.options(),
                        new Generator(42));
                Optimizer optimizer = Adam.adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 1e-3);
                float[] logits;
                Map<String, float[]> grads = new LinkedHashMap<>();
                try (MemoryScope scope = MemoryScope.open()) {
                    Tensor out = model.forward(Tensor.ofInts(backend, x, batch, w.time()));
                    logits = out.toFloatArray();
                    out.crossEntropy(Tensor.ofInts(backend, y, batch, w.time()), Task.IGNORE_INDEX).backward();
                    model.namedParameters().forEach((name, p) -> grads.put(name, p.grad().toFloatArray()));
                    optimizer.zeroGrad();
                }
                for (int s = 0; s < warmup; s++) {
                    step(backend, model, optimizer, x, y, batch, w.time());
                }
                long start = System.nanoTime();
                for (int s = 0; s < steps; s++) {
                    step(backend, model, optimizer, x, y, batch, w.time());
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                double tokensPerSecond = steps == 0 ? 0 : (double) steps * batch * w.time() / seconds;
                String logitDiff = "-";
                String gradDiff = "-";
                if (referenceLogits == null) {
                    referenceLogits = logits;
                    referenceGrads = grads;
                } else {
                    logitDiff = String.format(Locale.ROOT, "%.3e", maxDifference(referenceLogits, logits));
                    double worst = 0;
                    for (Map.Entry<String, float[]> e : grads.entrySet()) {
                        worst = Math.max(worst, maxDifference(referenceGrads.get(e.getKey()), e.getValue()));
                    }
                    gradDiff = String.format(Locale.ROOT, "%.3e", worst);
                }
                kiln.out.printf(Locale.ROOT, "%-10s %12.0f %14s %14s%n", id, tokensPerSecond, logitDiff, gradDiff);
                kiln.out.flush();
            }
        }
        return 0;
    }

    private List<String> availableBackends() {
        List<String> ids = new ArrayList<>();
        kiln.plugins().backends().providers().stream().filter(p -> p.probe().available())
                .forEach(p -> ids.add(p.id()));
        if (ids.remove("cpu")) {
            ids.addFirst("cpu");
        }
        return ids;
    }

    /** One training step as a run takes it (the trainer's {@link TrainingStep}), without clipping. */
    private static void step(Backend backend, LanguageModel model, Optimizer optimizer, int[] x, int[] y, int batch,
                             int time) {
        try (MemoryScope scope = MemoryScope.open()) {
            Batch data = new Batch(ModelInputs.ids(Tensor.ofInts(backend, x, batch, time)),
                    Tensor.ofInts(backend, y, batch, time), (long) batch * time);
            new TrainingStep(model, (m, b) -> Loss.crossEntropy(m.forward(b.inputs()), b), optimizer).run(List.of(data));
        }
    }

    private static double maxDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
