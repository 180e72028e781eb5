package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.columnwise;
import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.rowwise;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/**
 * RMSNorm over the last axis (Zhang &amp; Sennrich; PyTorch's {@code nn.RMSNorm}): y = x / √(mean(x²) + ε) · γ. No
 * mean is subtracted and there is no bias. No backend registers a kernel for it: it is the worked example of an
 * operation added as one file, running its composition everywhere.
 */
public final class RmsNorm extends FusedOperation<RmsNorm.Kernel> {
    public static final RmsNorm OP = new RmsNorm();

    public interface Kernel {
        /** Writes out and each row's 1/rms for the backward pass. */
        void forward(Storage x, Storage gamma, Storage out, Storage rstd, int rows, int cols, float eps);

        /** Overwrites dx and dgamma. */
        void backward(Storage x, Storage gamma, Storage rstd, Storage dy, Storage dx, Storage dgamma, int rows, int cols);
    }

    private RmsNorm() {
        super("rms_norm", Kernel.class);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage gamma, Storage out, Storage rstd, int rows, int cols, float eps) {
                try (Scratch t = new Scratch(b)) {
                    Storage squares = t.floats(rows * cols);
                    elementwise(b, BinaryOp.MUL, x, x, squares);
                    b.reduce(ReduceOp.SUM, squares, rows, cols, 1, rstd);
                    withScalar(b, BinaryOp.MUL, rstd, t.scalar(1f / cols), rstd);
                    withScalar(b, BinaryOp.ADD, rstd, t.scalar(eps), rstd);
                    b.unary(UnaryOp.SQRT, rstd, rstd);
                    b.unary(UnaryOp.RECIPROCAL, rstd, rstd);
                    rowwise(b, BinaryOp.MUL, x, rstd, out, rows, cols);
                    columnwise(b, BinaryOp.MUL, out, gamma, out, rows, cols);
                }
            }

            @Override
            public void backward(Storage x, Storage gamma, Storage rstd, Storage dy, Storage dx, Storage dgamma,
                                 int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage normalized = t.floats(rows * cols);
                    Storage gradNormalized = t.floats(rows * cols);
                    Storage scratch = t.floats(rows * cols);
                    Storage rowDot = t.floats(rows);
                    rowwise(b, BinaryOp.MUL, x, rstd, normalized, rows, cols);
                    elementwise(b, BinaryOp.MUL, dy, normalized, scratch);
                    b.reduce(ReduceOp.SUM, scratch, 1, rows, cols, dgamma);
                    columnwise(b, BinaryOp.MUL, dy, gamma, gradNormalized, rows, cols);
                    // dx = rstd · (g − x̂ · mean(g ⊙ x̂))
                    elementwise(b, BinaryOp.MUL, gradNormalized, normalized, scratch);
                    b.reduce(ReduceOp.SUM, scratch, rows, cols, 1, rowDot);
                    withScalar(b, BinaryOp.MUL, rowDot, t.scalar(1f / cols), rowDot);
                    rowwise(b, BinaryOp.MUL, normalized, rowDot, scratch, rows, cols);
                    elementwise(b, BinaryOp.SUB, gradNormalized, scratch, dx);
                    rowwise(b, BinaryOp.MUL, dx, rstd, dx, rows, cols);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int rows = 6;
            int cols = 37;
            Storage x = t.random(9, rows * cols, -2, 3);
            Storage gamma = t.random(10, cols, 0.5, 1.5);
            Storage out = t.floats(rows * cols);
            Storage rstd = t.floats(rows);
            Storage dx = t.floats(rows * cols);
            Storage dgamma = t.floats(cols);
            kernel.forward(x, gamma, out, rstd, rows, cols, 1e-6f);
            kernel.backward(x, gamma, rstd, t.random(11, rows * cols, -1, 1), dx, dgamma, rows, cols);
            return List.of(t.read(out), t.read(rstd), t.read(dx), t.read(dgamma));
        }
    }
}
