package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The fixed-order vector exp, tanh, sigmoid and lane sum, against Math's double-precision functions. */
class VectorMathTest {

    private static float[] inputs(double low, double high, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (low + (high - low) * random.nextDouble());
        }
        return x;
    }

    /** The largest error in units of the float spacing at the exact value. */
    private static double worstUlps(UnaryOperator<FloatVector> f, DoubleUnaryOperator exact, float[] x) {
        double worst = 0;
        float[] out = new float[LANES];
        for (int i = 0; i + LANES <= x.length; i += LANES) {
            f.apply(FloatVector.fromArray(F, x, i)).intoArray(out, 0);
            for (int l = 0; l < LANES; l++) {
                double want = exact.applyAsDouble(x[i + l]);
                double error = Math.abs(out[l] - want) / Math.ulp((float) want);
                worst = Math.max(worst, error);
            }
        }
        return worst;
    }

    @Test
    void expIsWithinTwoUlpsOverTheWholeRange() {
        assertTrue(worstUlps(VectorMath::exp, Math::exp, inputs(-87, 88.7, 1 << 16, 1)) <= 2);
        assertTrue(worstUlps(VectorMath::exp, Math::exp, inputs(-1, 1, 1 << 16, 2)) <= 2);
    }

    @Test
    void expHandlesTheEdges() {
        float[] x = new float[LANES];
        float[] edges = {Float.NEGATIVE_INFINITY, -200f, 0f, 88.72f, 89f, Float.POSITIVE_INFINITY, Float.NaN, -87f};
        System.arraycopy(edges, 0, x, 0, Math.min(edges.length, LANES));
        float[] out = new float[LANES];
        VectorMath.exp(FloatVector.fromArray(F, x, 0)).intoArray(out, 0);
        assertEquals(0f, out[0]);
        if (LANES >= 8) {
            assertEquals(0f, out[1]);
            assertEquals(1f, out[2]);
            assertEquals(Math.exp(88.72f), out[3], Math.ulp((float) Math.exp(88.72f)) * 2);
            assertEquals(Float.POSITIVE_INFINITY, out[4]);
            assertEquals(Float.POSITIVE_INFINITY, out[5]);
            assertTrue(Float.isNaN(out[6]));
            assertEquals(Math.exp(-87f), out[7], Math.ulp((float) Math.exp(-87f)) * 2);
        }
    }

    @Test
    void tanhAndSigmoidAreWithinAFewUlps() {
        assertTrue(worstUlps(VectorMath::tanh, Math::tanh, inputs(-0.7, 0.7, 1 << 16, 3)) <= 3);
        assertTrue(worstUlps(VectorMath::tanh, Math::tanh, inputs(-12, 12, 1 << 16, 4)) <= 3);
        assertTrue(worstUlps(VectorMath::sigmoid, v -> 1 / (1 + Math.exp(-v)), inputs(-30, 30, 1 << 16, 5)) <= 3);
    }

    @Test
    void theLaneSumIsExactEnoughAndAlwaysTheSame() {
        float[] x = inputs(-1, 1, LANES, 6);
        double exact = 0;
        for (float v : x) {
            exact += v;
        }
        float first = VectorMath.sum(FloatVector.fromArray(F, x, 0));
        assertEquals(exact, first, 1e-5);
        for (int i = 0; i < 10_000; i++) {
            assertEquals(first, VectorMath.sum(FloatVector.fromArray(F, x, 0)), 0.0, "the same bits every time");
        }
    }
}
