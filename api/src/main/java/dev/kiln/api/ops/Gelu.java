package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.scalarWith;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/** GELU with the tanh approximation (GPT-2's; PyTorch's {@code gelu(approximate='tanh')}). */
public final class Gelu extends FusedOperation<Gelu.Kernel> {
    public static final Gelu OP = new Gelu();

    static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
    static final float CUBIC = 0.044715f;

    public interface Kernel {
        void forward(Storage x, Storage out);

        void backward(Storage x, Storage dy, Storage dx);
    }

    private Gelu() {
        super("gelu_tanh", Kernel.class);
    }

    /** tanh(√(2/π)·(x + 0.044715·x³)) into inner. */
    private static void tanhOfInner(Backend b, Scratch t, Storage x, Storage inner) {
        elementwise(b, BinaryOp.MUL, x, x, inner);
        withScalar(b, BinaryOp.MUL, inner, t.scalar(CUBIC), inner);
        withScalar(b, BinaryOp.ADD, inner, t.scalar(1f), inner);
        elementwise(b, BinaryOp.MUL, inner, x, inner);
        withScalar(b, BinaryOp.MUL, inner, t.scalar(SQRT_2_OVER_PI), inner);
        b.unary(UnaryOp.TANH, inner, inner);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage out) {
                try (Scratch t = new Scratch(b)) {
                    Storage tanh = t.floats(x.size());
                    tanhOfInner(b, t, x, tanh);
                    withScalar(b, BinaryOp.ADD, tanh, t.scalar(1f), tanh);
                    elementwise(b, BinaryOp.MUL, tanh, x, out);
                    withScalar(b, BinaryOp.MUL, out, t.scalar(0.5f), out);
                }
            }

            @Override
            public void backward(Storage x, Storage dy, Storage dx) {
                try (Scratch t = new Scratch(b)) {
                    int n = x.size();
                    Storage tanh = t.floats(n);
                    Storage slope = t.floats(n);
                    Storage scratch = t.floats(n);
                    tanhOfInner(b, t, x, tanh);
                    // d/dx = 0.5·(1 + tanh) + 0.5·x·(1 − tanh²)·√(2/π)·(1 + 3·0.044715·x²)
                    elementwise(b, BinaryOp.MUL, x, x, slope);
                    withScalar(b, BinaryOp.MUL, slope, t.scalar(3f * CUBIC), slope);
                    withScalar(b, BinaryOp.ADD, slope, t.scalar(1f), slope);
                    withScalar(b, BinaryOp.MUL, slope, t.scalar(SQRT_2_OVER_PI), slope);
                    elementwise(b, BinaryOp.MUL, tanh, tanh, scratch);
                    scalarWith(b, BinaryOp.SUB, t.scalar(1f), scratch, scratch);
                    elementwise(b, BinaryOp.MUL, slope, scratch, slope);
                    elementwise(b, BinaryOp.MUL, slope, x, slope);
                    withScalar(b, BinaryOp.ADD, tanh, t.scalar(1f), tanh);
                    elementwise(b, BinaryOp.ADD, slope, tanh, slope);
                    withScalar(b, BinaryOp.MUL, slope, t.scalar(0.5f), slope);
                    elementwise(b, BinaryOp.MUL, slope, dy, dx);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        return sampleElementwise(backend, kernel::forward, kernel::backward);
    }

    /** A forward and backward over 1031 values on [−6, 6) (a vector-unfriendly length): for the GELU variants. */
    static List<float[]> sampleElementwise(Backend backend, java.util.function.BiConsumer<Storage, Storage> forward,
                                           TriConsumer backward) {
        try (Scratch t = new Scratch(backend)) {
            int n = 1031;
            Storage x = t.random(13, n, -6, 6);
            Storage out = t.floats(n);
            Storage dx = t.floats(n);
            forward.accept(x, out);
            backward.accept(x, t.random(14, n, -1, 1), dx);
            return List.of(t.read(out), t.read(dx));
        }
    }

    @FunctionalInterface
    interface TriConsumer {
        void accept(Storage a, Storage b, Storage c);
    }
}
