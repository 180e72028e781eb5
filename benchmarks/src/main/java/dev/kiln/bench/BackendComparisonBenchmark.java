package dev.kiln.bench;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.backend.cpu.CpuBackendProvider;
import dev.kiln.backend.opencl.OpenClBackendProvider;
import dev.kiln.model.transformer.GptConfig;
import dev.kiln.model.transformer.GptLanguageModel;
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
 * gemm (n = 1024) and the gpt-mini training step on each backend, side by side in one run. Each measured call ends
 * with a download, so an asynchronous device queue is waited for inside the measurement.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BackendComparisonBenchmark {
    private static final int N = 1024;

    @Param({"cpu", "opencl"})
    public String backend;

    private Backend device;
    private Storage a;
    private Storage b;
    private Storage c;
    private final float[] one = new float[1];
    private LanguageModel model;
    private Optimizer optimizer;
    private Tensor ids;
    private Tensor targets;

    @Setup
    public void setUp() {
        device = backend.equals("cpu") ? new CpuBackendProvider().create(Options.of("threads", "2"))
                : new OpenClBackendProvider().create(Options.defaults());
        a = device.allocate(DType.FLOAT32, N * N);
        b = device.allocate(DType.FLOAT32, N * N);
        c = device.allocate(DType.FLOAT32, N * N);
        device.randomFill(a, Distribution.NORMAL, 0f, 1f, 1);
        device.randomFill(b, Distribution.NORMAL, 0f, 1f, 2);
        model = new GptLanguageModel(device, new GptConfig(4096, 128, 4, 4, 256, 0f, "gelu_new", true, "learned",
                1e-5f), new Generator(0));
        optimizer = Adam.adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 1e-3);
        ids = RandomTokens.ids(device, GptMiniBenchmark.BATCH, GptMiniBenchmark.TIME, 4096, 0);
        targets = RandomTokens.ids(device, GptMiniBenchmark.BATCH, GptMiniBenchmark.TIME, 4096, 1);
    }

    @Benchmark
    public float gemm1024() {
        device.matmul(a, b, c, MatmulShape.of(N, N, N));
        device.download(c, one);
        return one[0];
    }

    @Benchmark
    public float gptMiniStep() {
        return TrainingStep.run(model, optimizer, ids, targets);
    }

    @TearDown
    public void tearDown() {
        device.close();
    }
}
