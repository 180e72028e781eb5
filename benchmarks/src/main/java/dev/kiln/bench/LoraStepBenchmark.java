package dev.kiln.bench;

import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.model.transformer.GptConfig;
import dev.kiln.model.transformer.GptLanguageModel;
import java.util.List;
import java.util.Map;
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
 * A fine-tuning step of {@code gpt-mini} (batch 16 × 128, Adam), with every weight training ({@code full}) or with
 * LoRA r = 8 on c_attn, c_proj and c_fc and the base frozen ({@code lora}): what LoRA saves in the step, from the
 * weight gradients it never forms and the optimizer state it never keeps. {@code frozen} is the bound: no adapter and
 * every weight frozen (only the first layer norm trains, so every activation gradient is still formed), the step
 * LoRA would take if its own small products cost nothing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class LoraStepBenchmark {
    public static final LoraConfig LORA = new LoraConfig(8, 16, 0f, List.of("c_attn", "c_proj", "c_fc"));

    @Param({"full", "lora", "frozen"})
    public String mode;

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
        model = model(backend, mode.equals("lora"));
        if (mode.equals("frozen")) {            // no adapter, all frozen but the first norm: every dX, no dW
            model.namedParameters().forEach((name, p) -> p.requiresGrad(name.startsWith("transformer.h.0.ln_1")));
        }
        optimizer = Adam.adam(List.of(ParamGroup.of(model.namedTrainableParameters(), 0)), 1e-3);
        ids = RandomTokens.ids(backend, GptMiniBenchmark.BATCH, GptMiniBenchmark.TIME, 4096, 0);
        targets = RandomTokens.ids(backend, GptMiniBenchmark.BATCH, GptMiniBenchmark.TIME, 4096, 1);
    }

    /** gpt-mini, with LoRA attached when {@code lora}. */
    static LanguageModel model(CpuBackend backend, boolean lora) {
        LanguageModel model = new GptLanguageModel(backend, new GptConfig(4096, 128, 4, 4, 256, 0f, "gelu_new", true,
                "learned", 1e-5f), new Generator(0));
        if (lora) {
            LORA.apply(model, new Generator(1));
        }
        return model;
    }

    @Benchmark
    public float trainingStep() {
        return TrainingStep.run(model, optimizer, ids, targets);
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }

    /** Trainable parameters and Adam state (two moments per trainable element) of full fine-tuning and of LoRA. */
    public static Map<String, long[]> counts() {
        try (CpuBackend backend = new CpuBackend(1, true)) {
            long[] full = trainable(model(backend, false));
            long[] lora = trainable(model(backend, true));
            return Map.of("full", full, "lora", lora);
        }
    }

    private static long[] trainable(LanguageModel model) {
        long count = model.namedTrainableParameters().values().stream().mapToLong(Tensor::numel).sum();
        return new long[] {count, 2 * count};
    }
}
