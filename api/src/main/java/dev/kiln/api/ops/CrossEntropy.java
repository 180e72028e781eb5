package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.PER_COLUMN;
import static dev.kiln.api.ops.Scratch.PER_ROW;
import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.rowwise;
import static dev.kiln.api.ops.Scratch.scalarWith;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/** Per-row cross-entropy of logits (rows, cols) against INT32 targets, rows whose target is the ignore index skipped. */
public final class CrossEntropy extends FusedOperation<CrossEntropy.Kernel> {
    public static final CrossEntropy OP = new CrossEntropy();

    public interface Kernel {
        /** rowLoss = logsumexp − logit[target] (0 where target == ignoreIndex); rowLse = logsumexp, kept for backward. */
        void forward(Storage logits, Storage targets, Storage rowLoss, Storage rowLse, int rows, int cols,
                     int ignoreIndex);

        /** dlogits = scale · (softmax − onehot(target)), 0 on ignored rows. */
        void backward(Storage logits, Storage targets, Storage rowLse, Storage dlogits, float scale, int rows, int cols,
                      int ignoreIndex);
    }

    private CrossEntropy() {
        super("cross_entropy", Kernel.class);
    }

    /** onehot (rows, cols) of the targets and valid (rows): 1 where the row's target is not ignoreIndex. */
    private static void targetMasks(Backend b, Scratch t, Storage targets, Storage onehot, Storage valid,
                                    int rows, int cols, int ignoreIndex) {
        float[] columnIndex = new float[cols];
        for (int c = 0; c < cols; c++) {
            columnIndex[c] = c;
        }
        Storage targetsAsFloat = t.floats(rows);
        b.copyStrided(targets, 0, new int[] {rows}, new int[] {1}, targetsAsFloat, 0, new int[] {1});
        b.binary(BinaryOp.EQ, t.upload(columnIndex), PER_COLUMN, targetsAsFloat, PER_ROW, onehot, new int[] {rows, cols});
        withScalar(b, BinaryOp.EQ, targetsAsFloat, t.scalar(ignoreIndex), valid);
        scalarWith(b, BinaryOp.SUB, t.scalar(1f), valid, valid);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage logits, Storage targets, Storage rowLoss, Storage rowLse, int rows, int cols,
                                int ignoreIndex) {
                try (Scratch t = new Scratch(b)) {
                    Storage rowMax = t.floats(rows);
                    Storage exps = t.floats(rows * cols);
                    Storage onehot = t.floats(rows * cols);
                    Storage valid = t.floats(rows);
                    b.reduce(ReduceOp.MAX, logits, rows, cols, 1, rowMax);
                    rowwise(b, BinaryOp.SUB, logits, rowMax, exps, rows, cols);
                    b.unary(UnaryOp.EXP, exps, exps);
                    b.reduce(ReduceOp.SUM, exps, rows, cols, 1, rowLse);
                    b.unary(UnaryOp.LOG, rowLse, rowLse);
                    elementwise(b, BinaryOp.ADD, rowLse, rowMax, rowLse);
                    targetMasks(b, t, targets, onehot, valid, rows, cols, ignoreIndex);
                    elementwise(b, BinaryOp.MUL, onehot, logits, onehot);
                    b.reduce(ReduceOp.SUM, onehot, rows, cols, 1, rowLoss);
                    elementwise(b, BinaryOp.SUB, rowLse, rowLoss, rowLoss);
                    elementwise(b, BinaryOp.MUL, rowLoss, valid, rowLoss);
                }
            }

            @Override
            public void backward(Storage logits, Storage targets, Storage rowLse, Storage dlogits, float scale,
                                 int rows, int cols, int ignoreIndex) {
                try (Scratch t = new Scratch(b)) {
                    Storage onehot = t.floats(rows * cols);
                    Storage valid = t.floats(rows);
                    targetMasks(b, t, targets, onehot, valid, rows, cols, ignoreIndex);
                    rowwise(b, BinaryOp.SUB, logits, rowLse, dlogits, rows, cols);
                    b.unary(UnaryOp.EXP, dlogits, dlogits);
                    elementwise(b, BinaryOp.SUB, dlogits, onehot, dlogits);
                    withScalar(b, BinaryOp.MUL, valid, t.scalar(scale), valid);
                    rowwise(b, BinaryOp.MUL, dlogits, valid, dlogits, rows, cols);
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int rows = 7;
            int cols = 41;
            Storage logits = t.random(12, rows * cols, -5, 5);
            Storage targets = t.upload(new int[] {3, -100, 40, 0, 17, -100, 9});
            Storage rowLoss = t.floats(rows);
            Storage rowLse = t.floats(rows);
            Storage dlogits = t.floats(rows * cols);
            kernel.forward(logits, targets, rowLoss, rowLse, rows, cols, -100);
            kernel.backward(logits, targets, rowLse, dlogits, 0.2f, rows, cols, -100);
            return List.of(t.read(rowLoss), t.read(rowLse), t.read(dlogits));
        }
    }
}
