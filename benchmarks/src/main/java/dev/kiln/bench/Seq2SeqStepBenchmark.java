package dev.kiln.bench;

import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Loss;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.backend.cpu.CpuBackend;
import dev.kiln.model.seq2seq.Seq2SeqConfig;
import dev.kiln.model.seq2seq.Seq2SeqTransformer;
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
 * The {@code seq2seq-step} reference workload, the seed's {@code nn.Transformer} model (vocab 8000, d_model 512, 8
 * heads, 6 + 6 layers, feed-forward 2048, dropout 0): {@link #trainingStep} on a batch of 8 sources and targets of 64
 * tokens with Adam, as {@code torch_reference.py seq2seq}; {@link #beamDecode}: beam 4 over the same 8 sources for
 * {@value #DECODED} tokens each (no EOS, so every source decodes to the limit).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class Seq2SeqStepBenchmark {
    public static final int VOCAB = 8000;
    public static final int BATCH = 8;
    public static final int LENGTH = 64;
    public static final int DECODED = 32;
    public static final int BEAM = 4;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Seq2SeqTransformer model;
    private Optimizer optimizer;
    private Batch batch;
    private Tensor sources;

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads, true);
        model = new Seq2SeqTransformer(backend, config(), new Generator(0));
        optimizer = Adam.adam(List.of(ParamGroup.of(model.namedParameters(), 0)), 1e-4);
        sources = RandomTokens.ids(backend, BATCH, LENGTH, VOCAB, 0);
        Tensor targetIds = RandomTokens.ids(backend, BATCH, LENGTH, VOCAB, 1);
        Tensor labels = RandomTokens.ids(backend, BATCH, LENGTH, VOCAB, 2);
        int[] full = new int[BATCH];
        java.util.Arrays.fill(full, LENGTH);
        batch = new Batch(ModelInputs.of(Map.of(ModelInputs.SOURCE_IDS, sources, ModelInputs.TARGET_IDS, targetIds),
                Map.of(ModelInputs.SOURCE_LENGTHS, full, ModelInputs.TARGET_LENGTHS, full)), labels, labels.numel());
    }

    static Seq2SeqConfig config() {
        return Seq2SeqConfig.from(Options.of("vocab_size", Integer.toString(VOCAB), "dropout", "0"));
    }

    /**
     * FLOPs of one training step as the issue counts them: 6 × the non-embedding parameters (fc included) per target
     * token, plus the attention products (QKᵀ and PV, forward and backward: 12 · d per query-key pair) of the encoder's
     * self-attention, the decoder's self-attention and its cross-attention.
     */
    static double flopsPerStep() {
        Seq2SeqConfig c = config();
        long embedding = (long) VOCAB * c.width();
        long parameters;
        try (CpuBackend counting = new CpuBackend(1, false)) {
            parameters = new Seq2SeqTransformer(counting, c, new Generator(0)).parameterCount();
        }
        double dense = 6.0 * (parameters - embedding) * BATCH * LENGTH;
        double pairs = (double) BATCH * LENGTH * LENGTH * (c.encoderLayers() + 2 * c.decoderLayers());
        return dense + 12.0 * c.width() * pairs;
    }

    @Benchmark
    public float trainingStep() {
        try (MemoryScope step = MemoryScope.open()) {
            return (float) new dev.kiln.trainer.TrainingStep(model, (m, b) -> Loss.crossEntropy(m.forward(b.inputs()), b),
                    optimizer).run(List.of(batch)).loss();
        }
    }

    @Benchmark
    public int beamDecode() {
        try (MemoryScope step = MemoryScope.open()) {
            int[] lengths = new int[BATCH];
            java.util.Arrays.fill(lengths, LENGTH);
            List<BeamSearch.Hypothesis> out = new BeamSearch(BEAM, 0.6, DECODED, 1, -1).decode(model, sources, lengths);
            model.train(true);
            return out.size();
        }
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
