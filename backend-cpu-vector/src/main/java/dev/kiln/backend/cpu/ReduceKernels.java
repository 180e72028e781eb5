package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.backend.ReduceOp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Reductions of the middle axis of an (outer, axis, inner) view. */
final class ReduceKernels {
    private static final int GRAIN = 1 << 14;

    private final Parallel parallel;
    private final boolean vector;

    ReduceKernels(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
    }

    void reduce(ReduceOp op, float[] x, int outer, int axis, int inner, float[] out) {
        if (inner == 1) {
            // each output is one contiguous run: a vector accumulator, then a lane reduction
            parallel.forRange(outer, Math.max(1, GRAIN / Math.max(1, axis)), (start, end) -> {
                for (int o = start; o < end; o++) {
                    out[o] = op == ReduceOp.SUM ? sum(x, o * axis, axis) : max(x, o * axis, axis);
                }
            });
            return;
        }
        // outputs are rows of length inner: accumulate whole rows, split across outer or, if outer is 1, columns
        if (outer >= parallel.threads()) {
            parallel.forRange(outer, Math.max(1, GRAIN / Math.max(1, axis * inner)), (start, end) -> {
                for (int o = start; o < end; o++) {
                    columns(op, x, o * axis * inner, axis, inner, out, o * inner, 0, inner);
                }
            });
        } else {
            int columnGrain = Math.max(LANES * 4, GRAIN / Math.max(1, axis));
            for (int o = 0; o < outer; o++) {
                int base = o * axis * inner;
                int outBase = o * inner;
                parallel.forRange(inner, columnGrain, (start, end) ->
                        columns(op, x, base, axis, inner, out, outBase, start, end));
            }
        }
    }

    private void columns(ReduceOp op, float[] x, int base, int axis, int inner, float[] out, int outBase,
                         int from, int to) {
        int j = from;
        if (vector) {
            for (int bound = from + F.loopBound(to - from); j < bound; j += LANES) {
                FloatVector acc = FloatVector.fromArray(F, x, base + j);
                for (int a = 1; a < axis; a++) {
                    FloatVector v = FloatVector.fromArray(F, x, base + a * inner + j);
                    acc = op == ReduceOp.SUM ? acc.add(v) : acc.max(v);
                }
                acc.intoArray(out, outBase + j);
            }
        }
        for (; j < to; j++) {
            float acc = x[base + j];
            for (int a = 1; a < axis; a++) {
                float v = x[base + a * inner + j];
                acc = op == ReduceOp.SUM ? acc + v : Math.max(acc, v);
            }
            out[outBase + j] = acc;
        }
    }

    float sum(float[] x, int offset, int n) {
        int i = 0;
        float total = 0f;
        if (vector && n >= LANES) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            for (int bound = n - 2 * LANES; i <= bound; i += 2 * LANES) {
                acc0 = acc0.add(FloatVector.fromArray(F, x, offset + i));
                acc1 = acc1.add(FloatVector.fromArray(F, x, offset + i + LANES));
            }
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                acc0 = acc0.add(FloatVector.fromArray(F, x, offset + i));
            }
            total = VectorMath.sum(acc0.add(acc1));
        }
        for (; i < n; i++) {
            total += x[offset + i];
        }
        return total;
    }

    float max(float[] x, int offset, int n) {
        int i = 0;
        float best = Float.NEGATIVE_INFINITY;
        if (vector && n >= LANES) {
            FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                acc = acc.max(FloatVector.fromArray(F, x, offset + i));
            }
            best = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            best = Math.max(best, x[offset + i]);
        }
        return best;
    }
}
