package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.AdamStep;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/** One Adam / AdamW step in place on param, m and v, with PyTorch's arithmetic. */
public final class AdamUpdate extends FusedOperation<AdamUpdate.Kernel> {
    public static final AdamUpdate OP = new AdamUpdate();

    @FunctionalInterface
    public interface Kernel {
        void update(Storage param, Storage grad, Storage m, Storage v, AdamStep step);
    }

    private AdamUpdate() {
        super("adam_update", Kernel.class);
    }

    @Override
    public Kernel composition(Backend b) {
        return (param, grad, m, v, s) -> {
            try (Scratch t = new Scratch(b)) {
                int n = param.size();
                Storage g = grad;
                if (!s.decoupled() && s.weightDecay() != 0) {            // Adam: L2 penalty folded into the gradient
                    g = t.floats(n);
                    withScalar(b, BinaryOp.MUL, param, t.scalar((float) s.weightDecay()), g);
                    elementwise(b, BinaryOp.ADD, g, grad, g);
                }
                Storage scratch = t.floats(n);
                // m = β1·m + (1 − β1)·g ; v = β2·v + (1 − β2)·g²
                withScalar(b, BinaryOp.MUL, m, t.scalar((float) s.beta1()), m);
                withScalar(b, BinaryOp.MUL, g, t.scalar((float) (1 - s.beta1())), scratch);
                elementwise(b, BinaryOp.ADD, m, scratch, m);
                withScalar(b, BinaryOp.MUL, v, t.scalar((float) s.beta2()), v);
                elementwise(b, BinaryOp.MUL, g, g, scratch);
                withScalar(b, BinaryOp.MUL, scratch, t.scalar((float) (1 - s.beta2())), scratch);
                elementwise(b, BinaryOp.ADD, v, scratch, v);
                if (s.decoupled() && s.weightDecay() != 0) {             // AdamW: decay the weights themselves
                    withScalar(b, BinaryOp.MUL, param, t.scalar((float) (1 - s.lr() * s.weightDecay())), param);
                }
                // p −= (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
                double biasCorrection1 = 1.0 - Math.pow(s.beta1(), s.step());
                double biasCorrection2 = 1.0 - Math.pow(s.beta2(), s.step());
                b.unary(UnaryOp.SQRT, v, scratch);
                withScalar(b, BinaryOp.DIV, scratch, t.scalar((float) Math.sqrt(biasCorrection2)), scratch);
                withScalar(b, BinaryOp.ADD, scratch, t.scalar((float) s.eps()), scratch);
                elementwise(b, BinaryOp.DIV, m, scratch, scratch);
                withScalar(b, BinaryOp.MUL, scratch, t.scalar((float) (s.lr() / biasCorrection1)), scratch);
                elementwise(b, BinaryOp.SUB, param, scratch, param);
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int n = 1031;
            Storage param = t.random(15, n, -1, 1);
            Storage m = t.random(16, n, -0.1, 0.1);
            Storage v = t.random(17, n, 0, 0.01);
            Storage grad = t.random(18, n, -1, 1);
            kernel.update(param, grad, m, v, new AdamStep(1e-2, 0.9, 0.999, 1e-8, 0.1, false, 3));
            kernel.update(param, grad, m, v, new AdamStep(1e-2, 0.9, 0.95, 1e-8, 0.1, true, 4));
            return List.of(t.read(param), t.read(m), t.read(v));
        }
    }
}
