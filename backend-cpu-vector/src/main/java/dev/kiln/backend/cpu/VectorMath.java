package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * The small vector routines several kernels share: dot product, axpy and scaling, each with a scalar path; and the lane
 * sum, exp and tanh that every kernel uses instead of {@code reduceLanes(ADD)} and {@code lanewise(EXP/TANH)}. Those
 * built-ins may give different last bits in interpreted and compiled code (reduceLanes may add in any order; EXP and TANH
 * are SVML calls once compiled and {@code Math} calls before), so a run could not repeat itself bit for bit across
 * processes. These are plain lane-wise arithmetic in one fixed order: the same bits in every tier.
 */
final class VectorMath {
    private VectorMath() {
    }

    /** Rotations by half, a quarter, … one lane: a fixed halving tree for {@link #sum}. */
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] HALVES = new VectorShuffle[Integer.numberOfTrailingZeros(LANES)];

    static {
        for (int i = 0, shift = LANES / 2; shift >= 1; i++, shift /= 2) {
            HALVES[i] = VectorShuffle.iota(F, shift, 1, true);
        }
    }

    /** The sum of the lanes, always added in the same order. */
    static float sum(FloatVector v) {
        for (VectorShuffle<Float> rotation : HALVES) {
            v = v.add(v.rearrange(rotation));
        }
        return v.lane(0);
    }

    // exp(x) = 2^n · e^r, n = round(x·log2 e), r = x − n·ln 2 with ln 2 split in two for accuracy; e^r from the
    // classic single-precision minimax polynomial (Cephes' expf); about 1 ulp from Math.exp.
    private static final float EXP_HIGH = 88.72283f;
    private static final float EXP_LOW = -104f;
    private static final float ROUND = 0x1.8p23f;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HIGH = 0.693359375f;
    private static final float LN2_LOW = -2.12194440e-4f;
    private static final float[] EXP_POLY = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
            4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

    static FloatVector exp(FloatVector x) {
        // inputs below about −103.9 give 0 after the two scalings, so the low clamp needs no blend
        FloatVector xc = x.max(EXP_LOW).min(EXP_HIGH);
        // round(x·log2 e) by the 1.5·2^23 trick: the addition rounds to an integer, exactly, in every tier
        FloatVector n = xc.fma(LOG2E, ROUND).sub(ROUND);
        FloatVector r = n.fma(n.broadcast(-LN2_HIGH), xc);
        r = n.fma(n.broadcast(-LN2_LOW), r);
        FloatVector p = r.broadcast(EXP_POLY[0]);
        for (int i = 1; i < EXP_POLY.length; i++) {
            p = p.fma(r, r.broadcast(EXP_POLY[i]));
        }
        FloatVector y = p.mul(r.mul(r)).add(r).add(1f);
        // 2^n as two halves built in the exponent bits, so that n from −150 to 128 never leaves their range
        IntVector ni = (IntVector) n.convert(VectorOperators.F2I, 0);
        IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector scale1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector scale2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(scale1).mul(scale2).blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HIGH));
    }

    // tanh: an odd minimax polynomial below |x| = 0.625 (Cephes' tanhf), 1 − 2/(e^{2|x|} + 1) with x's sign above.
    private static final float[] TANH_POLY = {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f,
            1.33314422036e-1f, -3.33332819422e-1f};

    static FloatVector tanh(FloatVector x) {
        FloatVector z = x.mul(x);
        FloatVector p = z.broadcast(TANH_POLY[0]);
        for (int i = 1; i < TANH_POLY.length; i++) {
            p = p.fma(z, z.broadcast(TANH_POLY[i]));
        }
        FloatVector small = p.mul(z).fma(x, x);
        FloatVector ax = x.abs();
        FloatVector large = ax.broadcast(1f).sub(ax.broadcast(2f).div(exp(ax.add(ax)).add(1f)));
        large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
        return large.blend(small, ax.compare(VectorOperators.LT, 0.625f));
    }

    /** 1 / (1 + e^{−x}). */
    static FloatVector sigmoid(FloatVector x) {
        return x.broadcast(1f).div(exp(x.neg()).add(1f));
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
            sum = sum(acc0.add(acc1));
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
