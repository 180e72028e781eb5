package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.MatmulShape;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The packed GEMM against a double-precision triple loop: every layout, tails in every dimension, both paths. */
class GemmTest {

    static Stream<Arguments> shapes() {
        int[][] sizes = {
            {1, 1, 1}, {1, 17, 5}, {3, 9, 2}, {5, 33, 300}, {6, 16, 256}, {7, 15, 257}, {13, 47, 31},
            {73, 19, 9}, {97, 130, 260}, {150, 200, 300}, {2, 4097, 3}, {145, 4100, 7}, {150, 1100, 40},
            // k over three and two blocks, with tails; m + n even adds to C, odd overwrites it
            {83, 37, 2 * Gemm.KC + 9}, {83, 38, 2 * Gemm.KC + 9}, {16, 24, Gemm.KC + 8}, {16, 25, Gemm.KC + 8},
            // n a multiple of a cache line and enough flops: the columns are turned onto C's lines (wherever this
            // JVM put c), so the last panel wraps around the rows; few rows pack B a panel at a time, more a block
            {67, 256, 1000}, {68, 256, 1000}, {300, 256, 300}, {301, 256, 300},
            // the narrow path: few columns or a shallow k (LoRA's rank-r products), over several tasks, with tails
            {2048, 8, 256}, {300, 8, 1024}, {2049, 768, 8}, {500, 3, 100}, {77, 16, 9}, {1000, 5, 2000},
            {130, 1024, 16}, {65, 17, 16}, {200, 40, 1}
        };
        Stream.Builder<Arguments> cases = Stream.builder();
        for (int[] s : sizes) {
            for (int flags = 0; flags < 4; flags++) {
                for (boolean vector : new boolean[] {true, false}) {
                    cases.add(Arguments.of(s[0], s[1], s[2], (flags & 1) != 0, (flags & 2) != 0, vector));
                }
            }
        }
        return cases.build();
    }

    @ParameterizedTest(name = "m={0} n={1} k={2} transA={3} transB={4} vector={5}")
    @MethodSource("shapes")
    void matchesReference(int m, int n, int k, boolean transA, boolean transB, boolean vector) {
        check(2, m, n, k, transA, transB, vector, 2);
    }

    /**
     * Single products large enough to be cut into one part per thread: row parts, column parts (few rows, B packed a
     * panel at a time), and grids of both, for thread counts that divide them differently.
     */
    static Stream<Arguments> splitShapes() {
        int[][] sizes = {{200, 300, 260}, {9, 700, 400}, {300, 20, 400}, {129, 129, 300}, {6, 2000, 200},
            {200, 512, 200}, {201, 512, 200}, {2048, 8, 256}, {1000, 768, 8}, {500, 8, 2048}};
        Stream.Builder<Arguments> cases = Stream.builder();
        for (int[] s : sizes) {
            for (int threads : new int[] {2, 3, 4}) {
                for (int flags = 0; flags < 4; flags++) {
                    cases.add(Arguments.of(s[0], s[1], s[2], (flags & 1) != 0, (flags & 2) != 0, threads));
                }
            }
        }
        return cases.build();
    }

    @ParameterizedTest(name = "m={0} n={1} k={2} transA={3} transB={4} threads={5}")
    @MethodSource("splitShapes")
    void splitAcrossThreadsMatchesReference(int m, int n, int k, boolean transA, boolean transB, int threads) {
        check(1, m, n, k, transA, transB, true, threads);
    }

    /**
     * The thread that finishes its part first takes blocks of rows from the other part's last step (its last block of
     * columns and of k), reading the B block the owner packed. Products over two or more blocks of k (the last one adds to what
     * the owner stored) and two of columns, repeated until some blocks were taken that way, each one checked.
     */
    @ParameterizedTest(name = "transA={0} transB={1}")
    @MethodSource("layouts")
    void blocksTakenFromAnotherPartMatchReference(boolean transA, boolean transB) {
        int m = 2 * Gemm.MC * 4 + 8;
        int n = 2 * Gemm.NC + 48;
        int k = Math.max(Gemm.KC + 100, (int) (Gemm.SHARE_FLOPS / (2L * m * n)) + 1);   // large enough to share
        try (Parallel parallel = new Parallel(2)) {
            Gemm gemm = new Gemm(parallel, true);
            for (int run = 0; run < 200 && gemm.helpedBlocks() == 0; run++) {
                check(gemm, 1, m, n, k, transA, transB, run);
            }
            assertTrue(gemm.helpedBlocks() > 0, "no block was taken from another part in 200 products");
        }
    }

    /**
     * Batch invariance, what a server's decoding relies on: row r of C = op(A)·op(B) is bitwise the same whether A has
     * 1 row or 40 and wherever r sits — the few-rows paths add in the blocked path's order. Products whose n and k both
     * exceed the narrow path's 16, with k over one and two blocks, n with a tail, and both thread counts.
     */
    @ParameterizedTest(name = "transA={0} transB={1}")
    @MethodSource("layouts")
    void aRowOfTheProductDoesNotDependOnHowManyRowsShareIt(boolean transA, boolean transB) {
        for (boolean vector : new boolean[] {true, false}) {
            for (int threads : new int[] {1, 2}) {
                for (int[] nk : new int[][] {{50, 96}, {517, 300}, {40, Gemm.KC + 37}, {1000, 2 * Gemm.KC + 5}}) {
                    int n = nk[0];
                    int k = nk[1];
                    Random random = new Random(n * 31L + k);
                    int most = 40;
                    float[] rows = random(random, most * k);            // row-major (most, k)
                    float[] b = random(random, k * n);
                    float[] alone = null;
                    try (Parallel parallel = new Parallel(threads)) {
                        Gemm gemm = new Gemm(parallel, vector);
                        for (int m : new int[] {1, 2, 4, 5, 8, 16, 17, 40}) {
                            // the probe row (row 0 of rows) sits last among m rows
                            float[] a = new float[m * k];
                            for (int i = 0; i < m; i++) {
                                int from = i == m - 1 ? 0 : (i + 1) * k;
                                for (int p = 0; p < k; p++) {
                                    float v = rows[from + p];
                                    if (transA) {
                                        a[p * m + i] = v;
                                    } else {
                                        a[i * k + p] = v;
                                    }
                                }
                            }
                            float[] bb = transB ? transpose(b, k, n) : b;
                            float[] c = new float[m * n];
                            gemm.multiply(a, bb, c, new MatmulShape(1, m, n, k, transA, transB, m * k, 0, false));
                            float[] probe = java.util.Arrays.copyOfRange(c, (m - 1) * n, m * n);
                            if (alone == null) {
                                alone = probe;
                            } else {
                                for (int j = 0; j < n; j++) {
                                    assertEquals(Float.floatToIntBits(alone[j]), Float.floatToIntBits(probe[j]),
                                            "vector=" + vector + " threads=" + threads + " n=" + n + " k=" + k
                                                    + " m=" + m + " column " + j + ": " + alone[j] + " vs " + probe[j]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** B (k×n, row-major) stored as Bᵀ (n×k), so that op(Bᵀ) with transB is B. */
    private static float[] transpose(float[] b, int k, int n) {
        float[] t = new float[n * k];
        for (int p = 0; p < k; p++) {
            for (int j = 0; j < n; j++) {
                t[j * k + p] = b[p * n + j];
            }
        }
        return t;
    }

    static Stream<Arguments> layouts() {
        return Stream.of(Arguments.of(false, false), Arguments.of(true, false), Arguments.of(false, true),
                Arguments.of(true, true));
    }

    private static void check(int batch, int m, int n, int k, boolean transA, boolean transB, boolean vector,
                              int threads) {
        try (Parallel parallel = new Parallel(threads)) {
            check(new Gemm(parallel, vector), batch, m, n, k, transA, transB, 0);
        }
    }

    private static void check(Gemm gemm, int batch, int m, int n, int k, boolean transA, boolean transB, int seed) {
        Random random = new Random(m * 31L + n * 7L + k + seed * 1_000_003L);
        float[] a = random(random, batch * m * k);
        float[] b = random(random, k * n);        // shared across the batch (stride 0)
        float[] c = random(random, batch * m * n);
        float[] initial = c.clone();
        boolean accumulate = (m + n) % 2 == 0;
        gemm.multiply(a, b, c, new MatmulShape(batch, m, n, k, transA, transB, m * k, 0, accumulate));
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double expected = accumulate ? initial[bi * m * n + i * n + j] : 0.0;
                    for (int p = 0; p < k; p++) {
                        float av = transA ? a[bi * m * k + p * m + i] : a[bi * m * k + i * k + p];
                        float bv = transB ? b[j * k + p] : b[p * n + j];
                        expected += (double) av * bv;
                    }
                    assertEquals(expected, c[bi * m * n + i * n + j], 1e-4 * Math.sqrt(k) + 1e-5,
                            "C[" + bi + "," + i + "," + j + "]");
                }
            }
        }
    }

    private static float[] random(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }
}
