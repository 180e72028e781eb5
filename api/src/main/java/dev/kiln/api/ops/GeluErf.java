package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/**
 * Exact GELU, x·Φ(x) = ½·x·(1 + erf(x/√2)): PyTorch's default {@code nn.GELU()}, the one {@code nn.Transformer}'s
 * {@code activation="gelu"} uses. The derivative is Φ(x) + x·φ(x), φ the standard normal density.
 */
public final class GeluErf extends FusedOperation<GeluErf.Kernel> {
    public static final GeluErf OP = new GeluErf();

    private static final float INV_SQRT_2 = (float) (1.0 / Math.sqrt(2.0));
    private static final float INV_SQRT_2PI = (float) (1.0 / Math.sqrt(2.0 * Math.PI));

    public interface Kernel {
        void forward(Storage x, Storage out);

        void backward(Storage x, Storage dy, Storage dx);
    }

    private GeluErf() {
        super("gelu_erf", Kernel.class);
    }

    /** Φ(x) = ½·(1 + erf(x/√2)) into cdf. */
    private static void normalCdf(Backend b, Scratch t, Storage x, Storage cdf) {
        withScalar(b, BinaryOp.MUL, x, t.scalar(INV_SQRT_2), cdf);
        b.unary(UnaryOp.ERF, cdf, cdf);
        withScalar(b, BinaryOp.ADD, cdf, t.scalar(1f), cdf);
        withScalar(b, BinaryOp.MUL, cdf, t.scalar(0.5f), cdf);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage out) {
                try (Scratch t = new Scratch(b)) {
                    Storage cdf = t.floats(x.size());
                    normalCdf(b, t, x, cdf);
                    elementwise(b, BinaryOp.MUL, x, cdf, out);
                }
            }

            @Override
            public void backward(Storage x, Storage dy, Storage dx) {
                try (Scratch t = new Scratch(b)) {
                    int n = x.size();
                    Storage cdf = t.floats(n);
                    Storage density = t.floats(n);
                    normalCdf(b, t, x, cdf);
                    // φ(x) = exp(−x²/2)/√(2π)
                    elementwise(b, BinaryOp.MUL, x, x, density);
                    withScalar(b, BinaryOp.MUL, density, t.scalar(-0.5f), density);
                    b.unary(UnaryOp.EXP, density, density);
                    withScalar(b, BinaryOp.MUL, density, t.scalar(INV_SQRT_2PI), density);
                    elementwise(b, BinaryOp.MUL, density, x, density);
                    elementwise(b, BinaryOp.ADD, density, cdf, density);
                    elementwise(b, BinaryOp.MUL, density, dy, dx);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        return Gelu.sampleElementwise(backend, kernel::forward, kernel::backward);
    }
}
