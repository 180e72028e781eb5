package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** The small vector routines several kernels share: dot product, axpy and scaling, each with a scalar path. */
final class VectorMath {
    private VectorMath() {
    }

    static float dot(boolean vector, float[] a, int aOff, float[] b, int bOff, int n) {
        int i = 0;
        float sum = 0f;
        if (vector) {
            FloatVector acc0 = FloatVector.zero(F);
            FloatVector acc1 = FloatVector.zero(F);
            for (int bound = n - 2 * LANES; i <= bound; i += 2 * LANES) {
                acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
                acc1 = FloatVector.fromArray(F, a, aOff + i + LANES).fma(FloatVector.fromArray(F, b, bOff + i + LANES), acc1);
            }
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            }
            sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** y += alpha·x over n elements. */
    static void axpy(boolean vector, float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        if (vector) {
            FloatVector a = FloatVector.broadcast(F, alpha);
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector.fromArray(F, x, xOff + i).fma(a, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
            }
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    /** y *= factor over n elements. */
    static void scale(boolean vector, float[] y, int off, int n, float factor) {
        int i = 0;
        if (vector) {
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector.fromArray(F, y, off + i).mul(factor).intoArray(y, off + i);
            }
        }
        for (; i < n; i++) {
            y[off + i] *= factor;
        }
    }
}
