package dev.kiln.api.backend;

import java.util.ArrayList;
import java.util.List;

/**
 * The fused operations written with primitives only: the definition a backend's fused kernel must match, and what a
 * new backend gets for free. Temporaries are released before each method returns.
 */
public final class Compositions {
    private Compositions() {
    }

    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
    private static final float GELU_CUBIC = 0.044715f;

    /** Temporaries of one composition, released together. */
    private static final class Temps implements AutoCloseable {
        private final Backend backend;
        private final List<Storage> storages = new ArrayList<>();

        Temps(Backend backend) {
            this.backend = backend;
        }

        Storage floats(int size) {
            Storage s = backend.allocate(DType.FLOAT32, size);
            storages.add(s);
            return s;
        }

        Storage scalar(float value) {
            Storage s = backend.upload(new float[] {value});
            storages.add(s);
            return s;
        }

        Storage upload(float[] values) {
            Storage s = backend.upload(values);
            storages.add(s);
            return s;
        }

        @Override
        public void close() {
            storages.forEach(backend::release);
        }
    }

    // Stride sets for a (rows, cols) matrix against a per-row column (rows), a per-column row (cols) or a scalar.
    private static int[] matrix(int cols) {
        return new int[] {cols, 1};
    }

    private static final int[] PER_ROW = {1, 0};
    private static final int[] PER_COLUMN = {0, 1};
    private static final int[] SCALAR = {0, 0};

    private static void rowwise(Backend b, BinaryOp op, Storage x, Storage perRow, Storage out, int rows, int cols) {
        b.binary(op, x, matrix(cols), perRow, PER_ROW, out, new int[] {rows, cols});
    }

    private static void withScalar(Backend b, BinaryOp op, Storage x, Storage scalar, Storage out) {
        b.binary(op, x, new int[] {1}, scalar, new int[] {0}, out, new int[] {x.size()});
    }

    private static void elementwise(Backend b, BinaryOp op, Storage x, Storage y, Storage out) {
        b.binary(op, x, new int[] {1}, y, new int[] {1}, out, new int[] {out.size()});
    }

    public static void softmax(Backend b, Storage x, Storage out, int rows, int cols) {
        try (Temps t = new Temps(b)) {
            Storage rowMax = t.floats(rows);
            Storage rowSum = t.floats(rows);
            b.reduce(ReduceOp.MAX, x, rows, cols, 1, rowMax);
            rowwise(b, BinaryOp.SUB, x, rowMax, out, rows, cols);
            b.unary(UnaryOp.EXP, out, out);
            b.reduce(ReduceOp.SUM, out, rows, cols, 1, rowSum);
            rowwise(b, BinaryOp.DIV, out, rowSum, out, rows, cols);
        }
    }

    public static void logSoftmax(Backend b, Storage x, Storage out, int rows, int cols) {
        try (Temps t = new Temps(b)) {
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

    public static void softmaxBackward(Backend b, Storage y, Storage dy, Storage dx, int rows, int cols) {
        try (Temps t = new Temps(b)) {
            Storage product = t.floats(rows * cols);
            Storage rowSum = t.floats(rows);
            elementwise(b, BinaryOp.MUL, dy, y, product);
            b.reduce(ReduceOp.SUM, product, rows, cols, 1, rowSum);
            rowwise(b, BinaryOp.SUB, dy, rowSum, dx, rows, cols);
            elementwise(b, BinaryOp.MUL, dx, y, dx);
        }
    }

    public static void logSoftmaxBackward(Backend b, Storage y, Storage dy, Storage dx, int rows, int cols) {
        try (Temps t = new Temps(b)) {
            Storage probabilities = t.floats(rows * cols);
            Storage rowSum = t.floats(rows);
            b.reduce(ReduceOp.SUM, dy, rows, cols, 1, rowSum);
            b.unary(UnaryOp.EXP, y, probabilities);
            rowwise(b, BinaryOp.MUL, probabilities, rowSum, probabilities, rows, cols);
            elementwise(b, BinaryOp.SUB, dy, probabilities, dx);
        }
    }

    public static void layerNorm(Backend b, Storage x, Storage gamma, Storage beta, Storage out, Storage mean,
                                 Storage rstd, int rows, int cols, float eps) {
        try (Temps t = new Temps(b)) {
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
            int[] shape = {rows, cols};
            b.binary(BinaryOp.MUL, out, matrix(cols), gamma, PER_COLUMN, out, shape);
            b.binary(BinaryOp.ADD, out, matrix(cols), beta, PER_COLUMN, out, shape);
        }
    }

    public static void layerNormBackward(Backend b, Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                                         Storage dx, Storage dgamma, Storage dbeta, int rows, int cols) {
        try (Temps t = new Temps(b)) {
            int[] shape = {rows, cols};
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
            b.binary(BinaryOp.MUL, dy, matrix(cols), gamma, PER_COLUMN, gradNormalized, shape);
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

    /** onehot (rows, cols) of the targets and valid (rows): 1 where the row's target is not ignoreIndex. */
    private static void targetMasks(Backend b, Temps t, Storage targets, Storage onehot, Storage valid,
                                    int rows, int cols, int ignoreIndex) {
        float[] columnIndex = new float[cols];
        for (int c = 0; c < cols; c++) {
            columnIndex[c] = c;
        }
        Storage targetsAsFloat = t.floats(rows);
        b.copyStrided(targets, 0, new int[] {rows}, new int[] {1}, targetsAsFloat, 0, new int[] {1});
        b.binary(BinaryOp.EQ, t.upload(columnIndex), PER_COLUMN, targetsAsFloat, PER_ROW, onehot, new int[] {rows, cols});
        withScalar(b, BinaryOp.EQ, targetsAsFloat, t.scalar(ignoreIndex), valid);
        b.binary(BinaryOp.SUB, t.scalar(1f), new int[] {0}, valid, new int[] {1}, valid, new int[] {rows});
    }

    public static void crossEntropy(Backend b, Storage logits, Storage targets, Storage rowLoss, Storage rowLse,
                                    int rows, int cols, int ignoreIndex) {
        try (Temps t = new Temps(b)) {
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

    public static void crossEntropyBackward(Backend b, Storage logits, Storage targets, Storage rowLse, Storage dlogits,
                                            float scale, int rows, int cols, int ignoreIndex) {
        try (Temps t = new Temps(b)) {
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

    /** tanh(√(2/π)·(x + 0.044715·x³)) into inner. */
    private static void geluTanh(Backend b, Temps t, Storage x, Storage inner) {
        elementwise(b, BinaryOp.MUL, x, x, inner);
        withScalar(b, BinaryOp.MUL, inner, t.scalar(GELU_CUBIC), inner);
        withScalar(b, BinaryOp.ADD, inner, t.scalar(1f), inner);
        elementwise(b, BinaryOp.MUL, inner, x, inner);
        withScalar(b, BinaryOp.MUL, inner, t.scalar(SQRT_2_OVER_PI), inner);
        b.unary(UnaryOp.TANH, inner, inner);
    }

    public static void gelu(Backend b, Storage x, Storage out) {
        try (Temps t = new Temps(b)) {
            Storage tanh = t.floats(x.size());
            geluTanh(b, t, x, tanh);
            withScalar(b, BinaryOp.ADD, tanh, t.scalar(1f), tanh);
            elementwise(b, BinaryOp.MUL, tanh, x, out);
            withScalar(b, BinaryOp.MUL, out, t.scalar(0.5f), out);
        }
    }

    public static void geluBackward(Backend b, Storage x, Storage dy, Storage dx) {
        try (Temps t = new Temps(b)) {
            int n = x.size();
            Storage tanh = t.floats(n);
            Storage slope = t.floats(n);
            Storage scratch = t.floats(n);
            geluTanh(b, t, x, tanh);
            // d/dx = 0.5·(1 + tanh) + 0.5·x·(1 − tanh²)·√(2/π)·(1 + 3·0.044715·x²)
            elementwise(b, BinaryOp.MUL, x, x, slope);
            withScalar(b, BinaryOp.MUL, slope, t.scalar(3f * GELU_CUBIC), slope);
            withScalar(b, BinaryOp.ADD, slope, t.scalar(1f), slope);
            withScalar(b, BinaryOp.MUL, slope, t.scalar(SQRT_2_OVER_PI), slope);
            elementwise(b, BinaryOp.MUL, tanh, tanh, scratch);
            b.binary(BinaryOp.SUB, t.scalar(1f), new int[] {0}, scratch, new int[] {1}, scratch, new int[] {n});
            elementwise(b, BinaryOp.MUL, slope, scratch, slope);
            elementwise(b, BinaryOp.MUL, slope, x, slope);
            withScalar(b, BinaryOp.ADD, tanh, t.scalar(1f), tanh);
            elementwise(b, BinaryOp.ADD, slope, tanh, slope);
            withScalar(b, BinaryOp.MUL, slope, t.scalar(0.5f), slope);
            elementwise(b, BinaryOp.MUL, slope, dy, dx);
        }
    }

    public static void adamUpdate(Backend b, Storage param, Storage grad, Storage m, Storage v, AdamStep s) {
        try (Temps t = new Temps(b)) {
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
    }

    private static float[] causalMask(int t) {
        float[] mask = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                mask[i * t + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return mask;
    }

    /** P = exp(q·kᵀ·scale + mask − lse) when lse is given, else the scaled masked scores. */
    private static void scores(Backend b, Temps t, Storage q, Storage k, Storage scores, int bh, int tt, int d, float scale) {
        b.matmul(q, k, scores, new MatmulShape(bh, tt, tt, d, false, true, tt * d, tt * d, false));
        int[] shape = {bh, tt, tt};
        int[] dense = {tt * tt, tt, 1};
        b.binary(BinaryOp.MUL, scores, dense, t.scalar(scale), new int[] {0, 0, 0}, scores, shape);
        b.binary(BinaryOp.ADD, scores, dense, t.upload(causalMask(tt)), new int[] {0, tt, 1}, scores, shape);
    }

    public static void causalAttention(Backend b, Storage q, Storage k, Storage v, Storage out, Storage lse,
                                       int bh, int tt, int d, float scale) {
        try (Temps t = new Temps(b)) {
            int rows = bh * tt;
            Storage probabilities = t.floats(rows * tt);
            Storage rowMax = t.floats(rows);
            scores(b, t, q, k, probabilities, bh, tt, d, scale);
            b.reduce(ReduceOp.MAX, probabilities, rows, tt, 1, rowMax);
            rowwise(b, BinaryOp.SUB, probabilities, rowMax, probabilities, rows, tt);
            b.unary(UnaryOp.EXP, probabilities, probabilities);
            b.reduce(ReduceOp.SUM, probabilities, rows, tt, 1, lse);
            rowwise(b, BinaryOp.DIV, probabilities, lse, probabilities, rows, tt);
            b.unary(UnaryOp.LOG, lse, lse);
            elementwise(b, BinaryOp.ADD, lse, rowMax, lse);
            b.matmul(probabilities, v, out, new MatmulShape(bh, tt, d, tt, false, false, tt * tt, tt * d, false));
        }
    }

    public static void causalAttentionBackward(Backend b, Storage q, Storage k, Storage v, Storage out, Storage lse,
                                               Storage dout, Storage dq, Storage dk, Storage dv,
                                               int bh, int tt, int d, float scale) {
        try (Temps t = new Temps(b)) {
            int rows = bh * tt;
            Storage probabilities = t.floats(rows * tt);
            Storage gradScores = t.floats(rows * tt);
            Storage rowDot = t.floats(rows);
            Storage scratch = t.floats(rows * d);
            scores(b, t, q, k, probabilities, bh, tt, d, scale);
            rowwise(b, BinaryOp.SUB, probabilities, lse, probabilities, rows, tt);
            b.unary(UnaryOp.EXP, probabilities, probabilities);
            // dv = Pᵀ·dout ; dP = dout·vᵀ ; dS = P ⊙ (dP − rowsum(dout ⊙ out)) · scale
            b.matmul(probabilities, dout, dv, new MatmulShape(bh, tt, d, tt, true, false, tt * tt, tt * d, false));
            b.matmul(dout, v, gradScores, new MatmulShape(bh, tt, tt, d, false, true, tt * d, tt * d, false));
            elementwise(b, BinaryOp.MUL, dout, out, scratch);
            b.reduce(ReduceOp.SUM, scratch, rows, d, 1, rowDot);
            rowwise(b, BinaryOp.SUB, gradScores, rowDot, gradScores, rows, tt);
            elementwise(b, BinaryOp.MUL, gradScores, probabilities, gradScores);
            withScalar(b, BinaryOp.MUL, gradScores, t.scalar(scale), gradScores);
            b.matmul(gradScores, k, dq, new MatmulShape(bh, tt, d, tt, false, false, tt * tt, tt * d, false));
            b.matmul(gradScores, q, dk, new MatmulShape(bh, tt, d, tt, true, false, tt * tt, tt * d, false));
        }
    }

    /** Copies columns [gate·hidden, (gate+1)·hidden) of a (batch, 4·hidden) matrix into a dense (batch, hidden) one. */
    private static void takeGate(Backend b, Storage gates, int gate, Storage out, int batch, int hidden) {
        b.copyStrided(gates, gate * hidden, new int[] {batch, hidden}, new int[] {4 * hidden, 1}, out, 0,
                new int[] {hidden, 1});
    }

    private static void putGate(Backend b, Storage part, int gate, Storage gates, int batch, int hidden) {
        b.copyStrided(part, 0, new int[] {batch, hidden}, new int[] {hidden, 1}, gates, gate * hidden,
                new int[] {4 * hidden, 1});
    }

    public static void lstmCell(Backend b, Storage gates, Storage cPrev, Storage h, Storage c, Storage activated,
                                int batch, int hidden) {
        try (Temps t = new Temps(b)) {
            int n = batch * hidden;
            Storage[] act = new Storage[4];
            for (int gate = 0; gate < 4; gate++) {
                act[gate] = t.floats(n);
                takeGate(b, gates, gate, act[gate], batch, hidden);
                b.unary(gate == 2 ? UnaryOp.TANH : UnaryOp.SIGMOID, act[gate], act[gate]);
                putGate(b, act[gate], gate, activated, batch, hidden);
            }
            Storage scratch = t.floats(n);
            elementwise(b, BinaryOp.MUL, act[1], cPrev, c);              // σ(f)·cPrev
            elementwise(b, BinaryOp.MUL, act[0], act[2], scratch);       // σ(i)·tanh(g)
            elementwise(b, BinaryOp.ADD, c, scratch, c);
            b.unary(UnaryOp.TANH, c, scratch);
            elementwise(b, BinaryOp.MUL, act[3], scratch, h);            // σ(o)·tanh(c)
        }
    }

    public static void lstmCellBackward(Backend b, Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc,
                                        Storage dGates, Storage dCPrev, int batch, int hidden) {
        try (Temps t = new Temps(b)) {
            int n = batch * hidden;
            Storage[] act = new Storage[4];
            for (int gate = 0; gate < 4; gate++) {
                act[gate] = t.floats(n);
                takeGate(b, activated, gate, act[gate], batch, hidden);
            }
            Storage one = t.scalar(1f);
            Storage tanhC = t.floats(n);
            Storage dcTotal = t.floats(n);
            Storage scratch = t.floats(n);
            Storage part = t.floats(n);
            b.unary(UnaryOp.TANH, c, tanhC);
            // dcTotal = dc + dh·o·(1 − tanh²c)
            elementwise(b, BinaryOp.MUL, tanhC, tanhC, scratch);
            b.binary(BinaryOp.SUB, one, new int[] {0}, scratch, new int[] {1}, scratch, new int[] {n});
            elementwise(b, BinaryOp.MUL, scratch, act[3], scratch);
            elementwise(b, BinaryOp.MUL, scratch, dh, scratch);
            elementwise(b, BinaryOp.ADD, scratch, dc, dcTotal);
            // d(o) = dh·tanh(c)·o·(1 − o); d(i) = dcTotal·g·i·(1 − i); d(f) = dcTotal·cPrev·f·(1 − f);
            // d(g) = dcTotal·i·(1 − g²)
            Storage[] upstream = {act[2], cPrev, act[0], null};
            for (int gate = 0; gate < 4; gate++) {
                if (gate == 3) {
                    elementwise(b, BinaryOp.MUL, dh, tanhC, part);
                } else {
                    elementwise(b, BinaryOp.MUL, dcTotal, upstream[gate], part);
                }
                Storage y = act[gate];
                if (gate == 2) {                                                                    // 1 − g²
                    elementwise(b, BinaryOp.MUL, y, y, scratch);
                    b.binary(BinaryOp.SUB, one, new int[] {0}, scratch, new int[] {1}, scratch, new int[] {n});
                } else {                                                                            // y·(1 − y)
                    b.binary(BinaryOp.SUB, one, new int[] {0}, y, new int[] {1}, scratch, new int[] {n});
                    elementwise(b, BinaryOp.MUL, scratch, y, scratch);
                }
                elementwise(b, BinaryOp.MUL, part, scratch, part);
                putGate(b, part, gate, dGates, batch, hidden);
            }
            elementwise(b, BinaryOp.MUL, dcTotal, act[1], dCPrev);                               // dcPrev = dcTotal·f
        }
    }
}
