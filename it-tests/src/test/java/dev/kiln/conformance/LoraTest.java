package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.nn.LowRankAdapter;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on every model, checked against full fine-tuning of the merged weights: with W' = W + s·B·A, the adapted
 * model's logits equal the merged model's, and the adapter's gradients follow from the merged weight's gradient G as
 * dB = s·G·Aᵀ and dA = s·Bᵀ·G (G taken as (out, in)). That covers the projections LoRA wraps as activations
 * (gpt's Conv1D, Linear, in_proj_weight sliced for cross-attention) and those it merges per step (the LSTM's fused
 * weights). Also: saving and loading an adapter, grown vocabularies, and the errors.
 */
class LoraTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static LanguageModel model(String id) {
        Options options = switch (id) {
            case "gpt" -> Options.of("vocab_size", "40", "n_positions", "16", "n_layer", "2", "n_head", "2", "n_embd",
                    "16", "dropout", "0");
            case "lstm" -> Options.of("vocab_size", "40", "embed_size", "12", "hidden_size", "16", "num_layers", "2",
                    "dropout", "0");
            default -> Options.of("vocab_size", "40", "d_model", "16", "nhead", "2", "num_encoder_layers", "1",
                    "num_decoder_layers", "1", "dim_feedforward", "24", "dropout", "0");
        };
        return ModelParityTest.models().get(id).create(BACKEND, options, new Generator(7));
    }

    private static List<String> targets(String id) {
        return switch (id) {
            case "gpt" -> List.of("c_attn", "c_proj", "c_fc");
            case "lstm" -> List.of("weight_ih_l0", "weight_hh_l1", "fc");
            default -> List.of("in_proj_weight", "linear1", "out_proj");
        };
    }

    private static ModelInputs batch(String id, int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = random.ints(2 * 7, 0, 40).toArray();
        Tensor x = Tensor.ofInts(BACKEND, ids, 2, 7);
        if (!id.equals("seq2seq")) {
            return ModelInputs.ids(x);
        }
        int[] target = random.ints(2 * 5, 0, 40).toArray();
        return ModelInputs.of(Map.of(ModelInputs.SOURCE_IDS, x, ModelInputs.TARGET_IDS,
                Tensor.ofInts(BACKEND, target, 2, 5)), Map.of(ModelInputs.SOURCE_LENGTHS, new int[] {7, 5},
                ModelInputs.TARGET_LENGTHS, new int[] {5, 3}));
    }

    private static Tensor loss(LanguageModel model, ModelInputs inputs, String id) {
        Tensor logits = model.forward(inputs);
        int[] shape = {logits.size(0), logits.size(1)};
        int[] targets = new SplittableRandom(3).ints(shape[0] * shape[1], 0, 40).toArray();
        return logits.crossEntropy(Tensor.ofInts(BACKEND, targets, shape), -100);
    }

    /** Gives every B random values (a fresh adapter's B is zero, which would hide the update and A's gradient). */
    private static void randomizeB(LanguageModel model) {
        Generator generator = new Generator(99);
        model.namedAdapterParameters().forEach((name, p) -> {
            if (name.endsWith("lora_B.weight")) {
                p.copyFrom(Tensor.randn(BACKEND, generator, p.shape()).mul(0.3f));
            }
        });
    }

    /**
     * The fused projection x·W + s·(x·D)·U against the same thing composed from matmul, mul and add, in value and in the
     * gradient of every operand (the base weight's too, which LoRA never asks for), on every backend configuration,
     * with the operands dense and as transposed views (how LoRA passes Aᵀ, Bᵀ and an (out, in) weight).
     */
    @Test
    void theFusedLowRankProjectionEqualsItsComposition() {
        for (Backends.Configured configured : Backends.configurations()) {
            try (Backend backend = configured.provider().create(configured.config())) {
                for (boolean views : new boolean[] {false, true}) {
                    String label = configured.label() + (views ? ", transposed views" : ", dense");
                    Generator generator = new Generator(views ? 11 : 12);
                    int in = 37;
                    int out = 45;
                    int rank = 5;
                    Tensor x = Tensor.randn(backend, generator, 3, 19, in).requiresGrad(true);
                    Tensor w = Tensor.randn(backend, generator, views ? new int[] {out, in} : new int[] {in, out})
                            .requiresGrad(true);
                    Tensor d = Tensor.randn(backend, generator, views ? new int[] {rank, in} : new int[] {in, rank})
                            .requiresGrad(true);
                    Tensor u = Tensor.randn(backend, generator, views ? new int[] {out, rank} : new int[] {rank, out})
                            .requiresGrad(true);
                    Tensor upstream = Tensor.randn(backend, generator, 3, 19, out);
                    Tensor[] operands = {x, w, d, u};
                    float s = 0.75f;

                    Tensor fused = x.matmulWithLowRank(views ? w.mT() : w, views ? d.mT() : d, views ? u.mT() : u, s);
                    fused.backward(upstream);
                    float[] fusedValue = fused.toFloatArray();
                    float[][] fusedGrads = new float[4][];
                    for (int i = 0; i < 4; i++) {
                        fusedGrads[i] = operands[i].grad().toFloatArray();
                        operands[i].zeroGrad();
                    }

                    Tensor wv = views ? w.mT() : w;
                    Tensor composed = x.matmul(wv).add(x.matmul(views ? d.mT() : d).mul(s).matmul(views ? u.mT() : u));
                    composed.backward(upstream);
                    BackendConformanceKit.assertClose(label + ": value", composed.toFloatArray(), fusedValue, 1e-5,
                            1e-4);
                    String[] names = {"dx", "dW", "dDown", "dUp"};
                    for (int i = 0; i < 4; i++) {
                        BackendConformanceKit.assertClose(label + ": " + names[i], operands[i].grad().toFloatArray(),
                                fusedGrads[i], 1e-5, 1e-4);
                    }
                }
            }
        }
        Tensor x = Tensor.zeros(BACKEND, 4, 6);
        KilnException e = assertThrows(KilnException.class,
                () -> x.matmulWithLowRank(Tensor.zeros(BACKEND, 6, 3), Tensor.zeros(BACKEND, 6, 2),
                        Tensor.zeros(BACKEND, 3, 3), 1f));
        assertTrue(e.getMessage().contains("matmulWithLowRank") && e.getMessage().contains("[3, 3]"), e.getMessage());
    }

    @Test
    void adaptedModelsMatchTheirMergedWeightsInOutputAndGradient() {
        for (String id : List.of("gpt", "lstm", "seq2seq")) {
            LanguageModel model = model(id);
            LoraConfig config = new LoraConfig(3, 6, 0f, targets(id));
            List<LoraConfig.Target> adapted = config.apply(model, new Generator(1));
            assertTrue(adapted.size() >= 3, id + ": " + adapted);
            assertEquals(model.namedAdapterParameters().keySet(), model.namedTrainableParameters().keySet(), id);
            randomizeB(model);
            model.train(true);
            ModelInputs inputs = batch(id, 5);
            Tensor logits = model.forward(inputs);
            float[] adaptedLogits = logits.toFloatArray();
            loss(model, inputs, id).backward();
            Map<String, Module> modules = model.namedModules();
            Map<String, float[][]> adapterGrads = new java.util.LinkedHashMap<>();
            Map<String, float[][]> adapterValues = new java.util.LinkedHashMap<>();
            for (LoraConfig.Target t : adapted) {
                LowRankAdapter lora = (LowRankAdapter) modules.get(t.modulePath()).adapter(t.parameter()).orElseThrow();
                adapterGrads.put(t.prefix(), new float[][] {lora.a().grad().toFloatArray(), lora.b().grad().toFloatArray()});
                adapterValues.put(t.prefix(), new float[][] {lora.a().toFloatArray(), lora.b().toFloatArray()});
            }

            model.mergeAdapters();
            model.parameters().forEach(p -> p.requiresGrad(true));
            Tensor merged = model.forward(inputs);
            BackendConformanceKit.assertClose(id + " logits, adapted vs merged", adaptedLogits, merged.toFloatArray(),
                    1e-5, 1e-4);
            loss(model, inputs, id).backward();
            for (LoraConfig.Target t : adapted) {
                Module owner = modules.get(t.modulePath());
                Tensor w = owner.parameter(t.parameter());
                WeightLayout layout = owner.projections().get(t.parameter());
                Tensor g = layout == WeightLayout.OUT_IN ? w.grad() : w.grad().mT().contiguous();      // (out, in)
                float[][] ab = adapterValues.get(t.prefix());
                int rank = 3;
                Tensor a = Tensor.of(BACKEND, ab[0], rank, layout.in(w));
                Tensor b = Tensor.of(BACKEND, ab[1], layout.out(w), rank);
                float s = (float) config.scaling();
                BackendConformanceKit.assertClose(id + " " + t.prefix() + "lora_B grad", g.matmul(a.mT()).mul(s)
                        .toFloatArray(), adapterGrads.get(t.prefix())[1], 1e-6, 1e-3);
                BackendConformanceKit.assertClose(id + " " + t.prefix() + "lora_A grad", b.mT().matmul(g).mul(s)
                        .toFloatArray(), adapterGrads.get(t.prefix())[0], 1e-6, 1e-3);
            }
        }
    }

    @Test
    void savedAdaptersLoadBackWithGrownVocabularies(@TempDir Path dir) {
        for (String id : List.of("gpt", "lstm", "seq2seq")) {
            LanguageModel model = model(id);
            float[] oldRows = model.namedParameters().values().iterator().next().toFloatArray();
            LoraConfig config = new LoraConfig(2, 4, 0f, targets(id));
            Map<String, String> tables = PeftAdapter.growFor(model, List.of(40, 41, 42));
            config.apply(model, new Generator(1));
            PeftAdapter.attachTokenRows(model, tables, 40);
            assertEquals(43, model.vocabSize(), id);
            assertEquals("43", model.hyperparameters().values().get("vocab_size"), id);
            randomizeB(model);
            model.namedAdapterParameters().forEach((name, p) -> {
                if (name.endsWith(PeftAdapter.TOKENS)) {
                    p.copyFrom(Tensor.randn(BACKEND, new Generator(5), p.shape()));
                }
            });
            model.eval();
            ModelInputs inputs = batch(id, 11);
            float[] expected = model.forward(inputs).toFloatArray();
            Path folder = dir.resolve(id);
            PeftAdapter.of(model, config, "base/" + id).save(folder, model);

            LanguageModel fresh = model(id);
            assertEquals(oldRows.length, fresh.namedParameters().values().iterator().next().toFloatArray().length);
            PeftAdapter read = PeftAdapter.read(folder);
            assertEquals(List.of(40, 41, 42), read.trainableTokens());
            assertEquals("base/" + id, read.baseModel());
            read.attach(fresh, new Generator(2));
            fresh.eval();
            BackendConformanceKit.assertClose(id + " reloaded adapter", expected, fresh.forward(inputs).toFloatArray(),
                    0, 0);
            fresh.mergeAdapters();
            BackendConformanceKit.assertClose(id + " merged", expected, fresh.forward(inputs).toFloatArray(), 1e-5,
                    1e-4);
        }
    }

    @Test
    void grownRowsStartAtTheMeanOfTheOldOnes() {
        LanguageModel model = model("gpt");
        float[] before = model.namedParameters().get("transformer.wte.weight").toFloatArray();
        model.growVocabulary(42);
        float[] after = model.namedParameters().get("transformer.wte.weight").toFloatArray();
        int width = 16;
        assertEquals(42 * width, after.length);
        for (int c = 0; c < width; c++) {
            double mean = 0;
            for (int r = 0; r < 40; r++) {
                mean += before[r * width + c];
                assertEquals(before[r * width + c], after[r * width + c]);
            }
            assertEquals(mean / 40, after[40 * width + c], 1e-6);
            assertEquals(mean / 40, after[41 * width + c], 1e-6);
        }
        assertEquals(42, model.forward(Tensor.ofInts(BACKEND, new int[] {41, 3}, 1, 2)).size(2));
    }

    @Test
    void mistakesGetOneClearError() {
        LanguageModel gpt = model("gpt");
        KilnException unknown = assertThrows(KilnException.class,
                () -> new LoraConfig(4, 8, 0f, List.of("c_atn")).apply(gpt, new Generator(0)));
        assertTrue(unknown.getMessage().contains("[c_atn]") && unknown.getMessage().contains("c_attn"),
                unknown.getMessage());
        assertThrows(KilnException.class, () -> new LoraConfig(0, 8, 0f, List.of("c_attn")));
        assertThrows(KilnException.class, () -> new LoraConfig(4, 8, 1f, List.of("c_attn")));
        LanguageModel lstm = model("lstm");
        new LoraConfig(2, 4, 0.1f, List.of("weight_ih_l0")).apply(lstm, new Generator(0));
        KilnException fused = assertThrows(KilnException.class, () -> lstm.forward(batch("lstm", 1)));
        assertTrue(fused.getMessage().contains("lora.dropout=0"), fused.getMessage());
    }
}
