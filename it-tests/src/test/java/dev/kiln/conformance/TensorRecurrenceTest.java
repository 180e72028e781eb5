package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.nn.Module;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.model.lstm.Lstm;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A recurrence written with nothing but {@link Tensor} operations — select one step, split the gates, stack the
 * outputs — trains at context 4096. Maven runs this class alone under {@code -Xmx2g} (it-tests/pom.xml): with a slice
 * backward that materialises a zero tensor of the whole input per step, the same run needs about 16 GB.
 */
class TensorRecurrenceTest {
    private static final int BATCH = 4;
    private static final int INPUT = 8;
    private static final int HIDDEN = 16;
    private static final int CONTEXT = 4096;
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    /** PyTorch's LSTM layer from Tensor operations: x (B, T, in) → (B, T, H), gate order i, f, g, o. */
    private static Tensor tensorLstm(Tensor x, Tensor wIh, Tensor wHh, Tensor bIh, Tensor bHh) {
        int batch = x.size(0);
        int time = x.size(1);
        Tensor projected = x.matmul(wIh.mT()).add(bIh).add(bHh);           // (B, T, 4H), all steps at once
        Tensor h = Tensor.zeros(x.backend(), batch, HIDDEN);
        Tensor c = Tensor.zeros(x.backend(), batch, HIDDEN);
        List<Tensor> outputs = new ArrayList<>(time);
        for (int t = 0; t < time; t++) {
            Tensor gates = projected.select(1, t).add(h.matmul(wHh.mT()));   // (B, 4H)
            List<Tensor> g = gates.split(HIDDEN, 1);                         // 4 × (B, H)
            c = g.get(1).sigmoid().mul(c).add(g.get(0).sigmoid().mul(g.get(2).tanh()));
            h = g.get(3).sigmoid().mul(c.tanh());
            outputs.add(h);
        }
        return Tensor.stack(outputs, 1);                                     // (B, T, H)
    }

    private static Tensor loss(Tensor y, Tensor weights) {
        return y.mul(weights).sum().div((float) y.numel());
    }

    @Test
    void aTensorOnlyLstmTrainsAtContext4096AndMatchesTheFusedLayersGradients() {
        Generator generator = new Generator(3);
        Lstm fused = new Lstm(BACKEND, INPUT, HIDDEN, 1, 0f, generator);
        Map<String, Tensor> p = fused.namedParameters();
        Tensor x = Tensor.randn(BACKEND, generator, BATCH, CONTEXT, INPUT);
        Tensor weights = Tensor.randn(BACKEND, generator, BATCH, CONTEXT, HIDDEN);

        Map<String, float[]> fusedGrads = gradients(fused, () -> loss(fused.forward(x, null).output(), weights));
        Map<String, float[]> tensorGrads = gradients(fused, () -> loss(tensorLstm(x, p.get("weight_ih_l0"),
                p.get("weight_hh_l0"), p.get("bias_ih_l0"), p.get("bias_hh_l0")), weights));
        for (String name : fusedGrads.keySet()) {
            float[] expected = fusedGrads.get(name);
            float[] actual = tensorGrads.get(name);
            double scale = 0;
            for (float e : expected) {
                scale = Math.max(scale, Math.abs(e));
            }
            for (int i = 0; i < expected.length; i++) {
                double error = Math.abs(expected[i] - actual[i]);
                assertTrue(error <= 1e-4 * scale + 1e-9, name + "[" + i + "]: fused " + expected[i] + ", tensor-only "
                        + actual[i] + " (largest gradient " + scale + ")");
            }
        }

        Optimizer optimizer = Adam.adam(List.of(ParamGroup.of(p, 0.0)), 1e-2);
        double first = Double.NaN;
        double last = Double.NaN;
        for (int step = 0; step < 3; step++) {
            try (MemoryScope ignored = MemoryScope.open()) {
                optimizer.zeroGrad();
                Tensor l = loss(tensorLstm(x, p.get("weight_ih_l0"), p.get("weight_hh_l0"), p.get("bias_ih_l0"),
                        p.get("bias_hh_l0")), weights);
                l.backward();
                optimizer.step();
                last = l.item();
                first = step == 0 ? last : first;
            }
        }
        assertTrue(last < first, "three Adam steps should lower the loss: " + first + " → " + last);
    }

    private static Map<String, float[]> gradients(Module module, java.util.function.Supplier<Tensor> loss) {
        Map<String, float[]> out = new java.util.TreeMap<>();
        try (MemoryScope ignored = MemoryScope.open()) {
            for (Tensor parameter : module.parameters()) {
                parameter.zeroGrad();
            }
            loss.get().backward();
            module.namedParameters().forEach((name, parameter) -> out.put(name, parameter.grad().toFloatArray()));
        }
        return out;
    }
}
