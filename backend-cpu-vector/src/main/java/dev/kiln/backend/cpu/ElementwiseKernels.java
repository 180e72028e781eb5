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
            int i = start;
            if (vector) {
                for (int bound = start + F.loopBound(end - start); i < bound; i += LANES) {
                    apply(op, FloatVector.fromArray(F, x, i)).intoArray(out, i);
                }
            }
            for (; i < end; i++) {
                out[i] = op.apply(x[i]);
            }
        });
    }

    static FloatVector apply(UnaryOp op, FloatVector v) {
        return switch (op) {
            case NEG -> v.neg();
            case EXP -> v.lanewise(VectorOperators.EXP);
            case LOG -> v.lanewise(VectorOperators.LOG);
            case TANH -> v.lanewise(VectorOperators.TANH);
            case SIGMOID -> v.broadcast(1f).div(v.neg().lanewise(VectorOperators.EXP).add(1f));
            case RELU -> v.max(0f);
            case SQRT -> v.sqrt();
            case ABS -> v.abs();
            case RECIPROCAL -> v.broadcast(1f).div(v);
            case STEP -> v.broadcast(0f).blend(1f, v.compare(VectorOperators.GT, 0f));
        };
    }

    static FloatVector apply(BinaryOp op, FloatVector a, FloatVector b) {
        return switch (op) {
            case ADD -> a.add(b);
            case SUB -> a.sub(b);
            case MUL -> a.mul(b);
            case DIV -> a.div(b);
            case POW -> a.lanewise(VectorOperators.POW, b);
            case MAX -> a.max(b);
            case MIN -> a.min(b);
            case EQ -> a.broadcast(0f).blend(1f, a.compare(VectorOperators.EQ, b));
            case GT -> a.broadcast(0f).blend(1f, a.compare(VectorOperators.GT, b));
        };
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
        if (vector && aStride <= 1 && bStride <= 1) {
            FloatVector aScalar = aStride == 0 ? FloatVector.broadcast(F, a[aOffset]) : null;
            FloatVector bScalar = bStride == 0 ? FloatVector.broadcast(F, b[bOffset]) : null;
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector va = aScalar != null ? aScalar : FloatVector.fromArray(F, a, aOffset + i);
                FloatVector vb = bScalar != null ? bScalar : FloatVector.fromArray(F, b, bOffset + i);
                apply(op, va, vb).intoArray(out, outOffset + i);
            }
        }
        for (; i < n; i++) {
            out[outOffset + i] = op.apply(a[aOffset + i * aStride], b[bOffset + i * bStride]);
        }
    }
}
