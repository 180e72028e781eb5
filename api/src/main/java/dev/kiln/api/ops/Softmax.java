package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.rowwise;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/** Row-wise softmax of a (rows, cols) matrix; the backward pass needs only the output y. */
public final class Softmax extends FusedOperation<Softmax.Kernel> {
    public static final Softmax OP = new Softmax();

    public interface Kernel {
        void forward(Storage x, Storage out, int rows, int cols);

        /** dx = y ⊙ (dy − Σ_row dy ⊙ y). */
        void backward(Storage y, Storage dy, Storage dx, int rows, int cols);
    }

    private Softmax() {
        super("softmax", Kernel.class);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage out, int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage rowMax = t.floats(rows);
                    Storage rowSum = t.floats(rows);
                    b.reduce(ReduceOp.MAX, x, rows, cols, 1, rowMax);
                    rowwise(b, BinaryOp.SUB, x, rowMax, out, rows, cols);
                    b.unary(UnaryOp.EXP, out, out);
                    b.reduce(ReduceOp.SUM, out, rows, cols, 1, rowSum);
                    rowwise(b, BinaryOp.DIV, out, rowSum, out, rows, cols);
                }
            }

            @Override
            public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage product = t.floats(rows * cols);
                    Storage rowSum = t.floats(rows);
                    elementwise(b, BinaryOp.MUL, dy, y, product);
                    b.reduce(ReduceOp.SUM, product, rows, cols, 1, rowSum);
                    rowwise(b, BinaryOp.SUB, dy, rowSum, dx, rows, cols);
                    elementwise(b, BinaryOp.MUL, dx, y, dx);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int rows = 5;
            int cols = 37;
            Storage x = t.random(1, rows * cols, -4, 4);
            Storage y = t.floats(rows * cols);
            Storage dx = t.floats(rows * cols);
            kernel.forward(x, y, rows, cols);
            kernel.backward(y, t.random(2, rows * cols, -1, 1), dx, rows, cols);
            return List.of(t.read(y), t.read(dx));
        }
    }
}
