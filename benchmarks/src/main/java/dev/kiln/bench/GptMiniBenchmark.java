package dev.kiln.bench;

import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.backend.cpu.CpuBackend;
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
 * The {@code gpt-mini} reference workloads: vocab 4096, 4 layers, 4 heads, width 256, GELU (tanh), pre-LN, tied head.
 * {@link #trainingStep}: batch 16 × 128 with Adam, as {@code torch_reference.py gpt}; {@link #generate}: context 256,
 * batch 1, greedy, 128 new tokens through the KV cache, as {@code torch_reference.py gen} (which has no cache);
 * {@link #generateBatch16}: the same for 16 sequences decoded together through the slot decoder {@code kiln serve} uses,
 * as {@code torch_reference.py genkv}'s batch 16.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class GptMiniBenchmark {
    public static final int BATCH = 16;
    public static final int TIME = 128;
    public static final int NEW_TOKENS = 128;
    public static final int DECODE_BATCH = 16;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private LanguageModel model;
    private LanguageModel generator;
    private Optimizer optimizer;
    private Tensor ids;
    private Tensor targets;
    private SlotDecoder slots;

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads, true);
        model = new GptLanguageModel(backend, config(128), new Generator(0));
        generator = new GptLanguageModel(backend, config(256), new Generator(0));
        optimizer = Adam.adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 1e-3);
        ids = RandomTokens.ids(backend, BATCH, TIME, 4096, 0);
        targets = RandomTokens.ids(backend, BATCH, TIME, 4096, 1);
        slots = generator.slotDecoder(DECODE_BATCH, 256);
    }

    /**
     * FLOPs of one training step as nanoGPT counts them: per token 6·N + 12·layers·context·width, N every parameter
     * but the position embeddings (the tied wte once, as the LM head).
     */
    public static double flopsPerStep() {
        GptConfig c = config(TIME);
        long parameters;
        try (CpuBackend counting = new CpuBackend(1, false)) {
            parameters = new GptLanguageModel(counting, c, new Generator(0)).namedParameters().entrySet().stream()
                    .filter(e -> !e.getKey().startsWith("transformer.wpe."))
                    .mapToLong(e -> e.getValue().numel()).sum();
        }
        double perToken = 6.0 * parameters + 12.0 * c.layers() * TIME * c.width();
        return perToken * BATCH * TIME;
    }

    private static GptConfig config(int context) {
        return new GptConfig(4096, context, 4, 4, 256, 0f, "gelu_new", true, "learned", 1e-5f);
    }

    @Benchmark
    public float trainingStep() {
        return TrainingStep.run(model, optimizer, ids, targets);
    }

    /** 128 greedy tokens from a one-token prompt (token 0), as the PyTorch anchor. */
    @Benchmark
    public int[] generate() {
        return TextGeneration.generate(generator, new int[] {0}, Sampling.greedy(NEW_TOKENS), token -> { });
    }

    /** 128 greedy tokens for each of 16 sequences (each from token 0), one batched decoding step per token. */
    @Benchmark
    public int[] generateBatch16() {
        int[] open = new int[DECODE_BATCH];
        int[][] next = new int[DECODE_BATCH][1];
        for (int i = 0; i < DECODE_BATCH; i++) {
            open[i] = slots.open();
        }
        int vocabulary = generator.vocabSize();
        for (int t = 0; t < NEW_TOKENS; t++) {
            float[] logits = slots.step(open, next).toFloatArray();
            for (int i = 0; i < DECODE_BATCH; i++) {
                int best = 0;
                for (int v = 1; v < vocabulary; v++) {
                    best = logits[i * vocabulary + v] > logits[i * vocabulary + best] ? v : best;
                }
                next[i][0] = best;
            }
        }
        int[] last = new int[DECODE_BATCH];
        for (int i = 0; i < DECODE_BATCH; i++) {
            last[i] = next[i][0];
            slots.release(open[i]);
        }
        return last;
    }

    @TearDown
    public void tearDown() {
        slots.close();
        backend.close();
    }
}
