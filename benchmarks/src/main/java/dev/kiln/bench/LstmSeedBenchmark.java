package dev.kiln.bench;

import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.model.lstm.LstmConfig;
import dev.kiln.model.lstm.LstmLanguageModel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The {@code lstm-seed} reference workload: vocab 10000, embed 256, hidden 512, 2 layers; batch 16 × 64 tokens; Adam;
 * one full training step (forward, cross-entropy, backward, optimizer), as {@code torch_reference.py lstm}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class LstmSeedBenchmark {
    public static final int BATCH = 16;
    public static final int TIME = 64;
    public static final int VOCAB = 10000;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private LanguageModel model;
    private Optimizer optimizer;
    private Tensor ids;
    private Tensor targets;

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads, true);
        model = new LstmLanguageModel(backend, config(), new Generator(0));
        optimizer = Adam.adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 1e-3);
        ids = RandomTokens.ids(backend, BATCH, TIME, VOCAB, 0);
        targets = RandomTokens.ids(backend, BATCH, TIME, VOCAB, 1);
    }

    /** FLOPs of one training step: per token 6 × (every layer's input and recurrent gate weights + the output layer's). */
    public static double flopsPerStep() {
        long weights;
        try (CpuBackend counting = new CpuBackend(1, false)) {
            weights = new LstmLanguageModel(counting, config(), new Generator(0)).namedParameters().entrySet().stream()
                    .filter(e -> e.getKey().matches("lstm\\.weight_(ih|hh)_l\\d+|fc\\.weight"))
                    .mapToLong(e -> e.getValue().numel()).sum();
        }
        return 6.0 * weights * BATCH * TIME;
    }

    private static LstmConfig config() {
        return new LstmConfig(VOCAB, 256, 512, 2, 0f, false);
    }

    @Benchmark
    public float trainingStep() {
        return TrainingStep.run(model, optimizer, ids, targets);
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
