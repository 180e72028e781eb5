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

/** Layer norm over the last axis of a (rows, cols) matrix, with per-column weight γ and bias β. */
public final class LayerNorm extends FusedOperation<LayerNorm.Kernel> {
    public static final LayerNorm OP = new LayerNorm();

    public interface Kernel {
        /** Writes out and, for the backward pass, each row's mean and 1/σ. */
        void forward(Storage x, Storage gamma, Storage beta, Storage out, Storage mean, Storage rstd,
                     int rows, int cols, float eps);

        /** Overwrites dx, dgamma and dbeta. */
        void backward(Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                      Storage dx, Storage dgamma, Storage dbeta, int rows, int cols);
    }

    private LayerNorm() {
        super("layer_norm", Kernel.class);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage gamma, Storage beta, Storage out, Storage mean, Storage rstd,
                                int rows, int cols, float eps) {
                try (Scratch t = new Scratch(b)) {
                    Storage inverseCols = t.scalar(1f / cols);
                    Storage centered = t.floats(rows * cols);
                    Storage squares = t.floats(rows * cols);
                    b.reduce(ReduceOp.SUM, x, rows, cols, 1, mean);
                    withScalar(b, BinaryOp.MUL, mean, inverseCols, mean);
                    rowwise(b, BinaryOp.SUB, x, mean, centered, rows, cols);
                    elementwise(b, BinaryOp.MUL, centered, centered, squares);
                    b.reduce(ReduceOp.SUM, squares, rows, cols, 1, rstd);
                    withScalar(b, BinaryOp.MUL, rstd, inverseCols, rstd);
                    withScalar(b, BinaryOp.ADD, rstd, t.scalar(eps), rstd);
                    b.unary(UnaryOp.SQRT, rstd, rstd);
                    b.unary(UnaryOp.RECIPROCAL, rstd, rstd);
                    rowwise(b, BinaryOp.MUL, centered, rstd, out, rows, cols);
                    columnwise(b, BinaryOp.MUL, out, gamma, out, rows, cols);
                    columnwise(b, BinaryOp.ADD, out, beta, out, rows, cols);
                }
            }

            @Override
            public void backward(Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                                 Storage dx, Storage dgamma, Storage dbeta, int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage inverseCols = t.scalar(1f / cols);
                    Storage normalized = t.floats(rows * cols);
                    Storage scratch = t.floats(rows * cols);
                    Storage gradNormalized = t.floats(rows * cols);
                    Storage meanGrad = t.floats(rows);
                    Storage meanGradDotNormalized = t.floats(rows);
                    rowwise(b, BinaryOp.SUB, x, mean, normalized, rows, cols);
                    rowwise(b, BinaryOp.MUL, normalized, rstd, normalized, rows, cols);
                    b.reduce(ReduceOp.SUM, dy, 1, rows, cols, dbeta);
                    elementwise(b, BinaryOp.MUL, dy, normalized, scratch);
                    b.reduce(ReduceOp.SUM, scratch, 1, rows, cols, dgamma);
                    columnwise(b, BinaryOp.MUL, dy, gamma, gradNormalized, rows, cols);
                    b.reduce(ReduceOp.SUM, gradNormalized, rows, cols, 1, meanGrad);
                    withScalar(b, BinaryOp.MUL, meanGrad, inverseCols, meanGrad);
                    elementwise(b, BinaryOp.MUL, gradNormalized, normalized, scratch);
                    b.reduce(ReduceOp.SUM, scratch, rows, cols, 1, meanGradDotNormalized);
                    withScalar(b, BinaryOp.MUL, meanGradDotNormalized, inverseCols, meanGradDotNormalized);
                    // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
                    rowwise(b, BinaryOp.MUL, normalized, meanGradDotNormalized, scratch, rows, cols);
                    rowwise(b, BinaryOp.SUB, gradNormalized, meanGrad, dx, rows, cols);
                    elementwise(b, BinaryOp.SUB, dx, scratch, dx);
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
            Storage x = t.random(5, rows * cols, -2, 3);
            Storage gamma = t.random(6, cols, 0.5, 1.5);
            Storage out = t.floats(rows * cols);
            Storage mean = t.floats(rows);
            Storage rstd = t.floats(rows);
            Storage dx = t.floats(rows * cols);
            Storage dgamma = t.floats(cols);
            Storage dbeta = t.floats(cols);
            kernel.forward(x, gamma, t.random(7, cols, -1, 1), out, mean, rstd, rows, cols, 1e-5f);
            kernel.backward(x, gamma, mean, rstd, t.random(8, rows * cols, -1, 1), dx, dgamma, dbeta, rows, cols);
            return List.of(t.read(out), t.read(mean), t.read(rstd), t.read(dx), t.read(dgamma), t.read(dbeta));
        }
    }
}
