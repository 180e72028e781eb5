package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.UnaryOp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Unary and broadcasting binary elementwise kernels: vector body, scalar tail, rows split across the pool. */
final class ElementwiseKernels {
    /** Elements per task below which splitting costs more than it saves. */
    private static final int GRAIN = 1 << 14;

    private final Parallel parallel;
    private final boolean vector;

    ElementwiseKernels(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
    }

    void unary(UnaryOp op, float[] x, float[] out, int n) {
        parallel.forRange(n, GRAIN, (start, end) -> {
            int i = vector ? unaryVector(op, x, out, start, end) : start;
            for (; i < end; i++) {
                out[i] = op.apply(x[i]);
            }
        });
    }

    /*
     * The Vector API compiles an operation to machine code only when its operator is a constant where it is used; an
     * operator passed around as data falls back to boxed, allocating code. So every loop below names its operator in
     * the code, one switch case per operator, and returns where the scalar tail starts.
     */

    private static int unaryVector(UnaryOp op, float[] x, float[] out, int start, int end) {
        int i = start;
        int bound = start + F.loopBound(end - start);
        switch (op) {
            case NEG -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, x, i).neg().intoArray(out, i); } }
            case EXP -> { for (; i < bound; i += LANES) { VectorMath.exp(FloatVector.fromArray(F, x, i)).intoArray(out, i); } }
            case LOG -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, x, i).lanewise(VectorOperators.LOG).intoArray(out, i); } }
            case TANH -> { for (; i < bound; i += LANES) { VectorMath.tanh(FloatVector.fromArray(F, x, i)).intoArray(out, i); } }
            case SIGMOID -> { for (; i < bound; i += LANES) { VectorMath.sigmoid(FloatVector.fromArray(F, x, i)).intoArray(out, i); } }
            case RELU -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, x, i).max(0f).intoArray(out, i); } }
            case SQRT -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, x, i).sqrt().intoArray(out, i); } }
            case ABS -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, x, i).abs().intoArray(out, i); } }
            case RECIPROCAL -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, x, i); v.broadcast(1f).div(v).intoArray(out, i); } }
            case STEP -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, x, i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.GT, 0f)).intoArray(out, i); } }
            case ERF -> { }     // no vector erf: the scalar loop takes every element, on both paths alike
        }
        return i;
    }

    /** out = a ⊕ b over n elements, both dense. */
    private static int denseDense(BinaryOp op, float[] a, int ao, float[] b, int bo, float[] out, int oo, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        switch (op) {
            case ADD -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).add(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case SUB -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).sub(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case MUL -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).mul(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case DIV -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).div(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case POW -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).lanewise(VectorOperators.POW, FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case MAX -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).max(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case MIN -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).min(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case EQ -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, a, ao + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.EQ, FloatVector.fromArray(F, b, bo + i))).intoArray(out, oo + i); } }
            case GT -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, a, ao + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.GT, FloatVector.fromArray(F, b, bo + i))).intoArray(out, oo + i); } }
        }
        return i;
    }

    /** out = a ⊕ s over n elements, a dense and s one value (a bias, a scale, a per-row statistic). */
    private static int denseScalar(BinaryOp op, float[] a, int ao, float s, float[] out, int oo, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        switch (op) {
            case ADD -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).add(s).intoArray(out, oo + i); } }
            case SUB -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).sub(s).intoArray(out, oo + i); } }
            case MUL -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).mul(s).intoArray(out, oo + i); } }
            case DIV -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).div(s).intoArray(out, oo + i); } }
            case POW -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).lanewise(VectorOperators.POW, s).intoArray(out, oo + i); } }
            case MAX -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).max(s).intoArray(out, oo + i); } }
            case MIN -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, a, ao + i).min(s).intoArray(out, oo + i); } }
            case EQ -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, a, ao + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.EQ, s)).intoArray(out, oo + i); } }
            case GT -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, a, ao + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.GT, s)).intoArray(out, oo + i); } }
        }
        return i;
    }

    /** out = s ⊕ b over n elements, s one value and b dense. */
    private static int scalarDense(BinaryOp op, float s, float[] b, int bo, float[] out, int oo, int n) {
        int i = 0;
        int bound = F.loopBound(n);
        switch (op) {
            case ADD -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, b, bo + i).add(s).intoArray(out, oo + i); } }
            case SUB -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, b, bo + i).neg().add(s).intoArray(out, oo + i); } }
            case MUL -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, b, bo + i).mul(s).intoArray(out, oo + i); } }
            case DIV -> { for (; i < bound; i += LANES) { FloatVector.broadcast(F, s).div(FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case POW -> { for (; i < bound; i += LANES) { FloatVector.broadcast(F, s).lanewise(VectorOperators.POW, FloatVector.fromArray(F, b, bo + i)).intoArray(out, oo + i); } }
            case MAX -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, b, bo + i).max(s).intoArray(out, oo + i); } }
            case MIN -> { for (; i < bound; i += LANES) { FloatVector.fromArray(F, b, bo + i).min(s).intoArray(out, oo + i); } }
            case EQ -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, b, bo + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.EQ, s)).intoArray(out, oo + i); } }
            case GT -> { for (; i < bound; i += LANES) { FloatVector v = FloatVector.fromArray(F, b, bo + i); v.broadcast(0f).blend(1f, v.compare(VectorOperators.LT, s)).intoArray(out, oo + i); } }
        }
        return i;
    }

    /**
     * out[idx] = op(a[idx·aStrides], b[idx·bStrides]). Dimensions that are contiguous for all three operands are merged
     * first, so a dense op is one flat loop and a bias or row broadcast is rows × (vector ⊕ scalar-or-vector).
     */
    void binary(BinaryOp op, float[] a, int[] aStrides, float[] b, int[] bStrides, float[] out, int[] outShape) {
        int[][] merged = Strides.coalesce(outShape, aStrides, bStrides);
        int[] shape = merged[0];
        int[] as = merged[1];
        int[] bs = merged[2];
        int rank = shape.length;
        int inner = shape[rank - 1];
        int aInner = as[rank - 1];
        int bInner = bs[rank - 1];
        int rows = 1;
        for (int d = 0; d < rank - 1; d++) {
            rows *= shape[d];
        }
        if (rows == 1) {
            parallel.forRange(inner, GRAIN, (start, end) ->
                    row(op, a, start * aInner, aInner, b, start * bInner, bInner, out, start, end - start));
            return;
        }
        int rowGrain = Math.max(1, GRAIN / Math.max(1, inner));
        parallel.forRange(rows, rowGrain, (start, end) -> {
            for (int r = start; r < end; r++) {
                int aOffset = 0;
                int bOffset = 0;
                int rest = r;
                for (int d = rank - 2; d >= 0; d--) {
                    int index = rest % shape[d];
                    rest /= shape[d];
                    aOffset += index * as[d];
                    bOffset += index * bs[d];
                }
                row(op, a, aOffset, aInner, b, bOffset, bInner, out, r * inner, inner);
            }
        });
    }

    /** One run of n outputs; each input's stride is 1 (dense) or 0 (broadcast scalar), else scalar code. */
    private void row(BinaryOp op, float[] a, int aOffset, int aStride, float[] b, int bOffset, int bStride,
                     float[] out, int outOffset, int n) {
        int i = 0;
        if (vector) {
            if (aStride == 1 && bStride == 1) {
                i = denseDense(op, a, aOffset, b, bOffset, out, outOffset, n);
            } else if (aStride == 1 && bStride == 0) {
                i = denseScalar(op, a, aOffset, b[bOffset], out, outOffset, n);
            } else if (aStride == 0 && bStride == 1) {
                i = scalarDense(op, a[aOffset], b, bOffset, out, outOffset, n);
            }
        }
        for (; i < n; i++) {
            out[outOffset + i] = op.apply(a[aOffset + i * aStride], b[bOffset + i * bStride]);
        }
    }
}
