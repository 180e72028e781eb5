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

/** Row-wise log-softmax of a (rows, cols) matrix; the backward pass needs only the output y. */
public final class LogSoftmax extends FusedOperation<LogSoftmax.Kernel> {
    public static final LogSoftmax OP = new LogSoftmax();

    public interface Kernel {
        void forward(Storage x, Storage out, int rows, int cols);

        /** dx = dy − exp(y) Σ_row dy. */
        void backward(Storage y, Storage dy, Storage dx, int rows, int cols);
    }

    private LogSoftmax() {
        super("log_softmax", Kernel.class);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage x, Storage out, int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage rowMax = t.floats(rows);
                    Storage rowSum = t.floats(rows);
                    Storage exps = t.floats(rows * cols);
                    b.reduce(ReduceOp.MAX, x, rows, cols, 1, rowMax);
                    rowwise(b, BinaryOp.SUB, x, rowMax, out, rows, cols);
                    b.unary(UnaryOp.EXP, out, exps);
                    b.reduce(ReduceOp.SUM, exps, rows, cols, 1, rowSum);
                    b.unary(UnaryOp.LOG, rowSum, rowSum);
                    rowwise(b, BinaryOp.SUB, out, rowSum, out, rows, cols);
                }
            }

            @Override
            public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                try (Scratch t = new Scratch(b)) {
                    Storage probabilities = t.floats(rows * cols);
                    Storage rowSum = t.floats(rows);
                    b.reduce(ReduceOp.SUM, dy, rows, cols, 1, rowSum);
                    b.unary(UnaryOp.EXP, y, probabilities);
                    rowwise(b, BinaryOp.MUL, probabilities, rowSum, probabilities, rows, cols);
                    elementwise(b, BinaryOp.SUB, dy, probabilities, dx);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int rows = 5;
            int cols = 37;
            Storage y = t.floats(rows * cols);
            Storage dx = t.floats(rows * cols);
            kernel.forward(t.random(3, rows * cols, -4, 4), y, rows, cols);
            kernel.backward(y, t.random(4, rows * cols, -1, 1), dx, rows, cols);
            return List.of(t.read(y), t.read(dx));
        }
    }
}
