package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.api.ops.AttentionShape;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The tiled attention (vector path) against the row walk (scalar path, {@code Math.exp}): forward, log-sum-exp and all
 * three gradients, over shapes that cross query and key blocks, heads that are not whole vectors, causal offsets, key
 * lengths and rows that see nothing.
 */
class AttentionKernelTest {

    static Stream<AttentionShape> shapes() {
        return Stream.of(
                AttentionShape.causal(2, 2, 8, 24),
                AttentionShape.causal(1, 2, 130, 24),
                AttentionShape.causal(2, 1, 97, 64),
                AttentionShape.full(1, 3, 33, 77, 40),
                new AttentionShape(2, 2, 45, 133, 24, 0.2f, true, new int[] {60, 0}, new int[] {133, 70}),
                new AttentionShape(3, 1, 40, 70, 5, 0.4f, false, new int[3], new int[] {70, 0, 9}),
                new AttentionShape(1, 2, 3, 200, 16, 0.25f, true, new int[] {150}, new int[] {200}));
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void theTiledKernelMatchesTheRowWalk(AttentionShape s) {
        Result tiled = run(s, true, 2);
        Result rows = run(s, false, 2);
        assertClose("out", rows.out, tiled.out, s);
        assertClose("lse", rows.lse, tiled.lse, s);
        assertClose("dq", rows.dq, tiled.dq, s);
        assertClose("dk", rows.dk, tiled.dk, s);
        assertClose("dv", rows.dv, tiled.dv, s);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void theThreadCountChangesNoBit(AttentionShape s) {
        Result one = run(s, true, 1);
        Result three = run(s, true, 3);
        assertArrayEquals(one.out, three.out);
        assertArrayEquals(one.dq, three.dq);
        assertArrayEquals(one.dk, three.dk);
        assertArrayEquals(one.dv, three.dv);
    }

    /** Queries 37..44 of a 100-query causal pass, asked alone at their offset, give the same bits. */
    @Test
    void aQueryRowDoesNotDependOnTheRowsBesideIt() {
        int d = 24;
        int tk = 100;
        AttentionShape all = AttentionShape.causal(1, 1, tk, d);
        float[] q = random(1, tk * d);
        float[] k = random(2, tk * d);
        float[] v = random(3, tk * d);
        float[] out = new float[tk * d];
        AttentionKernel kernel = new AttentionKernel(new Parallel(2), true);
        kernel.forward(q, k, v, out, new float[tk], all);
        int first = 37;
        int count = 8;
        AttentionShape some = new AttentionShape(1, 1, count, tk, d, all.scale(), true, new int[] {first},
                new int[] {tk});
        float[] part = new float[count * d];
        kernel.forward(Arrays.copyOfRange(q, first * d, (first + count) * d), k, v, part, new float[count], some);
        assertArrayEquals(Arrays.copyOfRange(out, first * d, (first + count) * d), part);
    }

    private record Result(float[] out, float[] lse, float[] dq, float[] dk, float[] dv) {
    }

    private static Result run(AttentionShape s, boolean vector, int threads) {
        int qn = s.batchHeads() * s.queries() * s.headDim();
        int kn = s.batchHeads() * s.keys() * s.headDim();
        float[] q = random(11, qn);
        float[] k = random(12, kn);
        float[] v = random(13, kn);
        float[] dout = random(14, qn);
        Result r = new Result(new float[qn], new float[s.batchHeads() * s.queries()], new float[qn], new float[kn],
                new float[kn]);
        // stale values in every output: a kernel must write each element it owns
        for (float[] a : new float[][] {r.out, r.lse, r.dq, r.dk, r.dv}) {
            Arrays.fill(a, Float.NaN);
        }
        AttentionKernel kernel = new AttentionKernel(new Parallel(threads), vector);
        kernel.forward(q, k, v, r.out, r.lse, s);
        kernel.backward(q, k, v, r.out, r.lse, dout, r.dq, r.dk, r.dv, s);
        return r;
    }

    private static void assertClose(String what, float[] expected, float[] actual, AttentionShape s) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i];
            float a = actual[i];
            if (e == Float.NEGATIVE_INFINITY && a == e) {
                continue;
            }
            double tolerance = 1e-5 + 1e-4 * Math.abs(e);
            if (!(Math.abs(a - e) <= tolerance)) {
                throw new AssertionError(what + "[" + i + "] is " + a + ", the row walk gives " + e + " for " + s);
            }
        }
    }

    private static float[] random(long seed, int n) {
        Random random = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextFloat() * 2 - 1;
        }
        return x;
    }
}
