package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.nn.LayerNorm;
import dev.kiln.api.nn.Linear;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.ModuleList;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.GradientClipping;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.OptimizerState;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.optim.Sgd;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Autograd, layers and optimizers behaving as a PyTorch user expects, on the default backend. */
class TrainingBehaviourTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Tensor leaf(float... values) {
        return Tensor.of(BACKEND, values, values.length).requiresGrad(true);
    }

    @Test
    void gradientsAccumulateUntilZeroed() {
        Tensor x = leaf(1f, 2f, 3f);
        x.mul(x).sum().backward();
        x.mul(x).sum().backward();
        assertArrayEquals(new float[] {4f, 8f, 12f}, x.grad().toFloatArray(), "2·(2x) after two passes");
        x.zeroGrad();
        assertNull(x.grad());
        x.mul(3f).sum().backward();
        assertArrayEquals(new float[] {3f, 3f, 3f}, x.grad().toFloatArray());
    }

    @Test
    void aSharedInputSumsItsGradients() {
        Tensor x = leaf(2f);
        x.mul(x).add(x.exp()).sum().backward();                    // d/dx (x² + eˣ) = 2x + eˣ
        assertEquals(4 + Math.exp(2), x.grad().item(), 1e-5);
    }

    @Test
    void noGradBuildsNoGraph() {
        Tensor x = leaf(1f, 2f);
        try (var ignored = GradMode.noGrad()) {
            Tensor y = x.mul(2f).exp();
            assertFalse(y.requiresGrad());
            assertThrows(KilnException.class, () -> y.sum().backward());
        }
        assertTrue(x.mul(2f).requiresGrad());
    }

    static final class TwoLayers extends Module {
        final Embedding wte;
        final ModuleList<Linear> h = new ModuleList<>();
        final LayerNorm lnF;
        final Linear head;

        TwoLayers(Generator g) {
            wte = registerModule("wte", new Embedding(BACKEND, 10, 8, g));
            registerModule("h", h);
            h.add(new Linear(BACKEND, 8, 8, true, g));
            h.add(new Linear(BACKEND, 8, 8, false, g));
            lnF = registerModule("ln_f", new LayerNorm(BACKEND, 8));
            head = registerModule("head", new Linear(BACKEND, 8, 10, true, g));
        }

        Tensor forward(Tensor ids) {
            Tensor x = wte.forward(ids);                           // (B, T, C)
            for (Linear layer : h) {
                x = x.add(layer.forward(x).relu());
            }
            return head.forward(lnF.forward(x));                   // (B, T, vocab)
        }
    }

    @Test
    void parametersHaveDottedNamesInRegistrationOrder() {
        TwoLayers model = new TwoLayers(new Generator(0));
        assertEquals(List.of("wte.weight", "h.0.weight", "h.0.bias", "h.1.weight", "ln_f.weight", "ln_f.bias",
                "head.weight", "head.bias"), List.copyOf(model.namedParameters().keySet()));
        assertEquals(80 + 64 + 8 + 64 + 8 + 8 + 80 + 10, model.parameterCount());
    }

    @Test
    void layersInitialiseAsPyTorchDoes() {
        Generator g = new Generator(1);
        Linear linear = new Linear(BACKEND, 400, 300, true, g);
        float bound = 1f / 20f;
        for (float w : linear.weight().toFloatArray()) {
            assertTrue(Math.abs(w) <= bound, "kaiming-uniform(a=√5) bound 1/√in");
        }
        float[] e = new Embedding(BACKEND, 1000, 100, g).weight().toFloatArray();
        double mean = 0;
        double sq = 0;
        for (float v : e) {
            mean += v;
            sq += v * v;
        }
        mean /= e.length;
        assertEquals(0, mean, 0.02);
        assertEquals(1, Math.sqrt(sq / e.length - mean * mean), 0.02, "embedding ~ N(0, 1)");
    }

    @Test
    void loadingAStateWithAWrongShapeNamesTheTensorAndBothShapes() {
        TwoLayers model = new TwoLayers(new Generator(0));
        Map<String, float[]> values = new java.util.LinkedHashMap<>();
        Map<String, int[]> shapes = new java.util.LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> {
            values.put(name, p.toFloatArray());
            shapes.put(name, p.shape());
        });
        shapes.put("h.0.weight", new int[] {8, 9});
        KilnException e = assertThrows(KilnException.class, () -> model.loadStateDict(values, shapes));
        assertTrue(e.getMessage().contains("h.0.weight") && e.getMessage().contains("[8, 8]")
                && e.getMessage().contains("[8, 9]"), e.getMessage());
    }

    private static float trainSteps(TwoLayers model, Optimizer optimizer, int steps, int seed) {
        int[] ids = new int[4 * 6];
        int[] targets = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 7 + seed) % 10;
            targets[i] = (ids[i] * 3 + 1) % 10;                    // a fixed mapping the model can learn
        }
        float loss = Float.NaN;
        for (int s = 0; s < steps; s++) {
            try (MemoryScope step = MemoryScope.open()) {
                Tensor logits = model.forward(Tensor.ofInts(BACKEND, ids, 4, 6));
                Tensor l = logits.crossEntropy(Tensor.ofInts(BACKEND, targets, 4, 6), -100);
                optimizer.zeroGrad();
                l.backward();
                GradientClipping.clipGradNorm(model.parameters(), 1.0);
                optimizer.step();
                loss = l.item();
            }
        }
        return loss;
    }

    @Test
    void adamWLearnsAMappingAndLeavesNoActivationsBehind() {
        TwoLayers model = new TwoLayers(new Generator(3));
        Optimizer adamW = Adam.adamW(ParamGroup.decayMatricesOnly(model.namedParameters(), 0.01), 1e-2, 0.9, 0.999);
        float first = trainSteps(model, adamW, 1, 0);
        long live = BACKEND.liveStorages();
        float last = trainSteps(model, adamW, 150, 0);
        assertTrue(first > 2.0 && last < 0.05, "loss " + first + " → " + last);
        assertEquals(live, BACKEND.liveStorages(), "steady state: no storage leaks across steps");
    }

    @Test
    void optimizerStateRestoresExactly() {
        TwoLayers a = new TwoLayers(new Generator(5));
        TwoLayers b = new TwoLayers(new Generator(5));
        Optimizer optA = Adam.adamW(ParamGroup.decayMatricesOnly(a.namedParameters(), 0.1), 3e-3, 0.9, 0.95);
        trainSteps(a, optA, 5, 1);
        OptimizerState saved = optA.exportState();
        Map<String, float[]> values = new java.util.LinkedHashMap<>();
        Map<String, int[]> shapes = new java.util.LinkedHashMap<>();
        a.namedParameters().forEach((name, p) -> {
            values.put(name, p.toFloatArray());
            shapes.put(name, p.shape());
        });
        b.loadStateDict(values, shapes);
        Optimizer optB = Adam.adamW(ParamGroup.decayMatricesOnly(b.namedParameters(), 0.1), 3e-3, 0.9, 0.95);
        optB.restoreState(saved);
        assertEquals(5, optB.stepCount());
        float lossA = trainSteps(a, optA, 3, 2);
        float lossB = trainSteps(b, optB, 3, 2);
        assertEquals(lossA, lossB, 0f, "resumed training is bit-identical");
        assertArrayEquals(a.head.weight().toFloatArray(), b.head.weight().toFloatArray());
    }

    @Test
    void sgdWithMomentumFollowsTorchFormulas() {
        Tensor p = leaf(1f, -2f);
        Sgd sgd = new Sgd(List.of(ParamGroup.of(Map.of("p", p), 0.1)), 0.5, 0.9);
        double[] param = {1, -2};
        double[] buffer = new double[2];
        float[][] grads = {{0.3f, -0.1f}, {0.2f, 0.4f}, {-0.5f, 0.1f}};
        for (int step = 0; step < grads.length; step++) {
            p.setGrad(Tensor.of(BACKEND, grads[step], 2));
            sgd.step();
            for (int i = 0; i < 2; i++) {
                double g = grads[step][i] + 0.1 * param[i];
                buffer[i] = step == 0 ? g : 0.9 * buffer[i] + g;
                param[i] -= 0.5 * buffer[i];
            }
            float[] got = p.toFloatArray();
            assertEquals(param[0], got[0], 1e-5);
            assertEquals(param[1], got[1], 1e-5);
        }
    }

    @Test
    void clippingScalesToTheGlobalNorm() {
        Tensor a = leaf(0f, 0f);
        Tensor b = leaf(0f);
        a.setGrad(Tensor.of(BACKEND, new float[] {3f, 0f}, 2));
        b.setGrad(Tensor.of(BACKEND, new float[] {4f}, 1));
        assertEquals(5.0, GradientClipping.clipGradNorm(List.of(a, b), 1.0), 1e-6);
        assertEquals(1.0, GradientClipping.globalNorm(List.of(a, b)), 1e-5);
        assertEquals(0.6f, a.grad().toFloatArray()[0], 1e-5f);
    }
}
