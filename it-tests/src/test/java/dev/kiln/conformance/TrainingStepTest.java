package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.trainer.ExperimentConfig;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.Trainer;
import dev.kiln.trainer.TrainingListener;
import dev.kiln.trainer.TrainingResult;
import dev.kiln.trainer.TrainingStep;
import dev.kiln.trainer.data.Corpus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one training step, its gradient hook, the loss as a sum over counted targets, and the optimizer choice. */
class TrainingStepTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));
    private static Corpus corpus;

    @BeforeAll
    static void readCorpus() throws IOException {
        String text = Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"));
        corpus = Corpus.of("tinyshakespeare head", text.substring(0, 60_000));
    }

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static LanguageModel gpt() {
        return ModelParityTest.models().get("gpt").create(BACKEND, Options.of("vocab_size", "40", "n_layer", "2",
                "n_head", "2", "n_embd", "16", "n_positions", "16"), new Generator(5));
    }

    private static Batch batch(long seed, int rows, int time, int ignoredEvery) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] x = new int[rows * time];
        int[] y = new int[rows * time];
        long counted = 0;
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextInt(40);
            y[i] = ignoredEvery > 0 && i % ignoredEvery == 0 ? Task.IGNORE_INDEX : random.nextInt(40);
            counted += y[i] == Task.IGNORE_INDEX ? 0 : 1;
        }
        return new Batch(ModelInputs.ids(Tensor.ofInts(BACKEND, x, rows, time)), Tensor.ofInts(BACKEND, y, rows, time),
                counted);
    }

    private static final TrainingStep.LossFunction NEXT_TOKEN = (m, b) -> Loss.crossEntropy(m.forward(b.inputs()), b);

    private static Optimizer sgd(LanguageModel model) {
        return new dev.kiln.api.optim.Sgd(List.of(ParamGroup.of(model.namedParameters(), 0)), 0.1, 0);
    }

    @Test
    void theHookHearsOfEveryGradientOnceLastLayersFirst() {
        LanguageModel model = gpt();
        List<String> order = new ArrayList<>();
        boolean[] allReady = new boolean[1];
        try (MemoryScope ignored = MemoryScope.open()) {
            new TrainingStep(model, NEXT_TOKEN, sgd(model)).onGradientReady(new TrainingStep.GradientHook() {
                @Override
                public void gradientReady(String name, Tensor parameter) {
                    assertTrue(parameter.grad() != null, name);
                    assertTrue(!allReady[0], "gradientReady after allGradientsReady: " + name);
                    order.add(name);
                }

                @Override
                public void allGradientsReady() {
                    allReady[0] = true;
                }
            }).run(List.of(batch(1, 2, 8, 0)));
        }
        assertTrue(allReady[0]);
        assertEquals(Set.copyOf(model.namedParameters().keySet()), Set.copyOf(order), "every parameter, once");
        assertEquals(order.size(), Set.copyOf(order).size(), "once each: " + order);
        assertTrue(order.indexOf("transformer.ln_f.weight") < order.indexOf("transformer.h.1.mlp.c_fc.weight")
                && order.indexOf("transformer.h.1.mlp.c_fc.weight") < order.indexOf("transformer.h.0.attn.c_attn.weight"),
                "the final norm, then block 1, then block 0: " + order);
        assertEquals("transformer.wte.weight", order.getLast(), "the tied embedding is used first and finishes last");
    }

    @Test
    void accumulatedMicroBatchesAverageOverTheirScoredTargetsTogether() {
        LanguageModel model = gpt();
        Batch a = batch(2, 2, 8, 3);
        Batch b = batch(3, 3, 8, 0);
        float[] whole;
        double lossTogether;
        try (MemoryScope ignored = MemoryScope.open()) {
            Optimizer none = new Adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 0.0 + 1e-30, 0.9, 0.999,
                    1e-8, false);
            lossTogether = new TrainingStep(model, NEXT_TOKEN, none).run(List.of(a, b)).loss();
            whole = model.namedParameters().get("transformer.h.0.mlp.c_fc.weight").grad().toFloatArray();
        }
        // the same: the sum over both batches divided by their total count, computed directly
        double expected;
        float[] direct;
        try (MemoryScope ignored = MemoryScope.open()) {
            model.namedParameters().values().forEach(Tensor::zeroGrad);
            Tensor sum = NEXT_TOKEN.apply(model, a).sum().add(NEXT_TOKEN.apply(model, b).sum());
            Tensor mean = sum.div((float) (a.countedTargets() + b.countedTargets()));
            mean.backward();
            expected = mean.item();
            direct = model.namedParameters().get("transformer.h.0.mlp.c_fc.weight").grad().toFloatArray();
        }
        assertEquals(expected, lossTogether, 1e-5 * Math.abs(expected));
        for (int i = 0; i < whole.length; i++) {
            assertEquals(direct[i], whole[i], 1e-5 * (Math.abs(direct[i]) + 1e-3), "gradient " + i);
        }
        assertTrue(a.countedTargets() < 16, "batch a has ignored targets: " + a.countedTargets());
    }

    @Test
    void aBatchWithNoScoredTargetLeavesTheWeightsAlone() {
        LanguageModel model = gpt();
        float[] before = model.namedParameters().get("transformer.wte.weight").toFloatArray();
        TrainingStep.Result result;
        try (MemoryScope ignored = MemoryScope.open()) {
            result = new TrainingStep(model, NEXT_TOKEN, sgd(model)).run(List.of(batch(4, 2, 8, 1)));
        }
        assertEquals(0, result.targets());
        assertTrue(!result.applied());
        assertTrue(java.util.Arrays.equals(before, model.namedParameters().get("transformer.wte.weight").toFloatArray()));
    }

    @Test
    void theOptimizerIsChosenByConfigAndForeignOptionsAreErrors(@TempDir Path dir) {
        Map<String, Double> finalLoss = new java.util.TreeMap<>();
        for (String optimizer : List.of("adamw", "adam", "sgd")) {
            ExperimentConfig config = TrainerTest.tinyGpt(dir.resolve("cache"), "train.steps", "30",
                    "train.optimizer", optimizer, "train.lr", optimizer.equals("sgd") ? "0.3" : "3e-3",
                    "train.eval_every", "30");
            if (optimizer.equals("sgd")) {
                config = config.with(Map.of("train.momentum", "0.9"));
            }
            TrainingResult result = new Trainer(TrainerTest.plugins(), new TrainingListener() { }).train(config, corpus,
                    dir.resolve(optimizer));
            finalLoss.put(optimizer, result.evaluation().loss());
            assertTrue(result.evaluation().loss() < Math.log(300), optimizer + " learns: " + result.evaluation().loss());
        }
        assertTrue(finalLoss.get("adam") != finalLoss.get("adamw").doubleValue(), "adam and adamw differ: " + finalLoss);
        KilnException momentum = assertThrows(KilnException.class, () -> ExperimentConfig.defaults()
                .with(Map.of("train.momentum", "0.9")).train());
        assertTrue(momentum.getMessage().contains("train.momentum") && momentum.getMessage().contains("adamw"),
                momentum.getMessage());
        KilnException betas = assertThrows(KilnException.class, () -> ExperimentConfig.defaults()
                .with(Map.of("train.optimizer", "sgd", "train.beta2", "0.9")).train());
        assertTrue(betas.getMessage().contains("train.beta2") && betas.getMessage().contains("sgd"), betas.getMessage());
        KilnException unknown = assertThrows(KilnException.class, () -> ExperimentConfig.defaults()
                .with(Map.of("train.optimizer", "lion")).train());
        assertTrue(unknown.getMessage().contains("lion") && unknown.getMessage().contains("adamw"), unknown.getMessage());
    }

    /** A task that trains only encoder-decoder models: the trainer must refuse gpt before the first step. */
    private static final class SourceToTargetOnly implements TaskProvider {
        @Override
        public String id() {
            return "pairs";
        }

        @Override
        public int priority() {
            return 0;
        }

        @Override
        public Task create(TaskData data, Options options) {
            return new Task() {
                @Override
                public String id() {
                    return "pairs";
                }

                @Override
                public Set<ModelKind> modelKinds() {
                    return Set.of(ModelKind.ENCODER_DECODER);
                }

                @Override
                public BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize) {
                    throw new AssertionError("no batch may be drawn for a model this task refuses");
                }

                @Override
                public Loss loss(LanguageModel model, Batch batch) {
                    throw new AssertionError();
                }

                @Override
                public Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context,
                                           long maxTargets) {
                    throw new AssertionError();
                }
            };
        }
    }

    @Test
    void aTaskRefusesAModelOfAnotherKindByName(@TempDir Path dir) {
        Plugins defaults = TrainerTest.plugins();
        Plugins plugins = new Plugins(defaults.backends(), defaults.models(), defaults.tokenizers(),
                PluginRegistry.of("task", List.of(new SourceToTargetOnly())));
        KilnException e = assertThrows(KilnException.class, () -> new Trainer(plugins, new TrainingListener() { })
                .train(TrainerTest.tinyGpt(dir.resolve("cache"), "task.id", "pairs"), corpus, dir.resolve("run")));
        assertTrue(e.getMessage().contains("task pairs trains [an encoder-decoder model]")
                && e.getMessage().contains("model gpt is a decoder-only language model"), e.getMessage());
    }
}
