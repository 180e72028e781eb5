package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.AdamStep;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.ops.AdamUpdate;
import dev.kiln.api.ops.Attention;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.ops.RmsNorm;
import dev.kiln.api.ops.Softmax;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicNode;

/**
 * The backend conformance kit. Run it from any JUnit 5 test:
 *
 * <pre>{@code
 * @TestFactory
 * Stream<DynamicNode> conformance() {
 *     return BackendConformanceKit.tests(myBackend);
 * }
 * }</pre>
 *
 * <p>It checks, through {@link Tensor} and {@link Backend} only: every operation's forward pass against
 * double-precision references ({@link Reference}); every differentiable operation's gradient against central finite
 * differences accumulated in double; every fused kernel the backend registered against its operation's composition
 * from primitives ({@link FusedOperation#sample}); scatter-add called directly; random fills against {@link CounterRandom}; that a closed {@link MemoryScope} leaves no live
 * storage; and that bad shapes fail with messages naming the operation and the shapes. Sizes include 1, primes, the
 * usual vector lengths ± 1, broadcasting, and sizes large enough to reach parallel paths.
 */
public final class BackendConformanceKit {
    /** Lengths that straddle 4-, 8- and 16-lane vectors, plus primes and one size that reaches parallel loops. */
    static final int[] SIZES = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1000, 100_003};

    private final Backend backend;

    private BackendConformanceKit(Backend backend) {
        this.backend = backend;
    }

    /** Every conformance test for this backend, grouped by concern. The caller owns (and closes) the backend. */
    public static Stream<DynamicNode> tests(Backend backend) {
        BackendConformanceKit kit = new BackendConformanceKit(backend);
        return Stream.of(
                dynamicContainer("forward", kit.forwardTests()),
                dynamicContainer("gradients", kit.gradientTests()),
                dynamicContainer("fused equals composition", kit.fusedTests()),
                dynamicContainer("determinism", kit.determinismTests()),
                dynamicContainer("memory", kit.memoryTests()),
                dynamicContainer("errors", kit.errorTests()));
    }

    // ============================================================================================ helpers

    static float[] random(long seed, int n, double low, double high) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (low + (high - low) * random.nextDouble());
        }
        return x;
    }

    private Tensor tensor(float[] data, int... shape) {
        return Tensor.of(backend, data, shape);
    }

    static void assertClose(String what, double[] expected, float[] actual, double atol, double rtol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double tolerance = atol + rtol * Math.abs(expected[i]);
            if (!(Math.abs(expected[i] - actual[i]) <= tolerance)
                    && !(Double.isInfinite(expected[i]) && expected[i] == actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]
                        + " (tolerance " + tolerance + ")");
            }
        }
    }

    static void assertClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        double[] e = new double[expected.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = expected[i];
        }
        assertClose(what, e, actual, atol, rtol);
    }

    private static double[] map(float[] x, java.util.function.DoubleUnaryOperator f) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = f.applyAsDouble(x[i]);
        }
        return out;
    }

    // ============================================================================================ forward

    private Stream<DynamicNode> forwardTests() {
        List<DynamicNode> tests = new ArrayList<>();
        for (UnaryOp op : UnaryOp.values()) {
            tests.add(dynamicTest("unary " + op, () -> {
                for (int n : SIZES) {
                    float[] x = unaryDomain(op, n, n);
                    Storage in = backend.upload(x);
                    Storage out = backend.allocate(DType.FLOAT32, n);
                    backend.unary(op, in, out);
                    float[] got = new float[n];
                    backend.download(out, got);
                    backend.release(in);
                    backend.release(out);
                    assertClose(op + " n=" + n, map(x, v -> Reference.unary(op, v)), got, 1e-6, 2e-6);
                }
            }));
        }
        int[][][] pairs = {
            {{7}, {7}}, {{5, 7}, {7}}, {{5, 7}, {5, 1}}, {{1, 7}, {5, 1}}, {{3, 1, 9}, {4, 1}}, {{}, {17}},
            {{2, 3, 4, 5}, {3, 1, 5}}, {{300, 513}, {513}}, {{300, 513}, {300, 1}}, {{100_003}, {100_003}}
        };
        for (BinaryOp op : BinaryOp.values()) {
            tests.add(dynamicTest("binary " + op + " with broadcasting", () -> {
                for (int[][] pair : pairs) {
                    float[] a = random(11, Reference.numel(pair[0]), 0.5, 2);
                    float[] b = random(12, Reference.numel(pair[1]), 0.5, 2);
                    if (op == BinaryOp.EQ) {
                        System.arraycopy(a, 0, b, 0, Math.min(a.length, b.length) / 2);
                    }
                    float[] got = binary(op, a, pair[0], b, pair[1]);
                    assertClose(op + " " + Arrays.toString(pair[0]) + " ⊕ " + Arrays.toString(pair[1]),
                            Reference.binaryBroadcast(op, a, pair[0], b, pair[1]), got, 1e-6, 2e-6);
                }
            }));
        }
        tests.add(dynamicTest("tensor arithmetic with scalars", () -> {
            float[] x = random(3, 33, -2, 2);
            Tensor t = tensor(x, 3, 11);
            assertClose("x*2+1", map(x, v -> v * 2 + 1), t.mul(2f).add(1f).toFloatArray(), 1e-6, 1e-6);
            assertClose("(x-1)/4", map(x, v -> (v - 1) / 4), t.sub(1f).div(4f).toFloatArray(), 1e-6, 1e-6);
            assertClose("x^3", map(x, v -> v * v * v), t.pow(3f).toFloatArray(), 1e-5, 1e-5);
        }));
        tests.add(dynamicTest("sum, mean and max along every axis", () -> {
            int[][] shapes = {{1}, {17}, {4, 9, 5}, {3, 1000}, {1000, 3}, {257, 4099}, {2, 65, 33}};
            for (int[] shape : shapes) {
                float[] x = random(shape.length * 7L + shape[0], Reference.numel(shape), -1, 1);
                Tensor t = tensor(x, shape);
                for (int d = 0; d < shape.length; d++) {
                    String what = Arrays.toString(shape) + " dim " + d;
                    double[] sums = Reference.reduce(false, x, shape, d);
                    assertClose("sum " + what, sums, t.sum(d).toFloatArray(), 1e-4, 1e-5);
                    int axis = shape[d];
                    assertClose("mean " + what, Arrays.stream(sums).map(s -> s / axis).toArray(),
                            t.mean(d, true).toFloatArray(), 1e-5, 1e-5);
                    assertClose("max " + what, Reference.reduce(true, x, shape, d), t.max(d, false).toFloatArray(), 0, 0);
                }
            }
        }));
        tests.add(dynamicTest("matmul: plain, batched, broadcast, transposed views, tails", this::matmulForward));
        tests.add(dynamicTest("permute, transpose, slice, concat, expand, reshape", this::layoutForward));
        tests.add(dynamicTest("argmax picks the first maximum along any dimension", () -> {
            float[] x = {1, 5, 5, -2, 0, 0, 0, 0, 7, 3, 7, -9};
            Tensor t = tensor(x, 2, 2, 3);
            assertArrayEquals(new int[] {1, 1, 2, 1}, t.argmax(-1, false).toIntArray(), "last dimension");
            assertArrayEquals(new int[] {2, 2}, t.argmax(-1, false).shape());
            assertArrayEquals(new int[] {0, 0, 1, 1, 1, 0}, t.argmax(0, false).toIntArray(), "first dimension");
            assertArrayEquals(new int[] {0, 0, 0, 1, 1, 0}, t.argmax(1, false).toIntArray(), "middle dimension");
            assertArrayEquals(new int[] {2, 1, 3}, t.argmax(1, true).shape(), "keepdim");
            assertArrayEquals(new int[] {8}, t.argmax().toIntArray(), "flattened");
        }));
        tests.add(dynamicTest("where and maskedFill keep infinities out of the branch not chosen", () -> {
            Tensor x = tensor(new float[] {1, 2, 3, 4}, 2, 2);
            Tensor mask = Tensor.ofInts(backend, new int[] {0, 1}, 2);               // broadcast over rows
            assertArrayEquals(new float[] {1, Float.NEGATIVE_INFINITY, 3, Float.NEGATIVE_INFINITY},
                    x.maskedFill(mask, Float.NEGATIVE_INFINITY).toFloatArray());
            Tensor infinite = tensor(new float[] {Float.POSITIVE_INFINITY, Float.NaN, 0, 0}, 2, 2);
            assertArrayEquals(new float[] {1, 2, 0, 0}, infinite.where(tensor(new float[] {0, 0, 1, 1}, 2, 2), x)
                    .toFloatArray());
        }));
        tests.add(dynamicTest("select, split and stack round-trip", () -> {
            float[] x = random(3, 24, -1, 1);
            Tensor t = tensor(x, 2, 3, 4);
            List<Tensor> rows = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                rows.add(t.select(1, i));
            }
            assertArrayEquals(x, Tensor.stack(rows, 1).toFloatArray(), "stack of selects");
            assertArrayEquals(x, Tensor.concat(t.split(3, -1), -1).toFloatArray(), "concat of splits");
            assertArrayEquals(new int[] {2, 4}, t.select(1, -1).shape());
        }));
        tests.add(dynamicTest("embedding gathers rows", () -> {
            float[] table = random(5, 10 * 13, -1, 1);
            int[] ids = {3, 0, 9, 3, 7, 7};
            float[] got = tensor(table, 10, 13).embedding(Tensor.ofInts(backend, ids, 2, 3)).toFloatArray();
            for (int i = 0; i < ids.length; i++) {
                for (int c = 0; c < 13; c++) {
                    assertEquals(table[ids[i] * 13 + c], got[i * 13 + c], 0f, "row " + i);
                }
            }
        }));
        tests.add(dynamicTest("softmax and log-softmax", () -> {
            for (int[] rc : new int[][] {{1, 1}, {5, 7}, {3, 33}, {300, 65}, {2, 1000}, {97, 4099}}) {
                float[] x = random(rc[0] + rc[1], rc[0] * rc[1], -8, 8);
                Tensor t = tensor(x, rc[0], rc[1]);
                assertClose("softmax " + Arrays.toString(rc), Reference.softmax(x, rc[0], rc[1], false),
                        t.softmax(-1).toFloatArray(), 1e-7, 1e-5);
                assertClose("logSoftmax " + Arrays.toString(rc), Reference.softmax(x, rc[0], rc[1], true),
                        t.logSoftmax(-1).toFloatArray(), 1e-5, 1e-5);
            }
        }));
        tests.add(dynamicTest("layer norm", () -> {
            for (int[] rc : new int[][] {{1, 1}, {4, 7}, {3, 64}, {129, 257}, {1000, 65}}) {
                float[] x = random(rc[1], rc[0] * rc[1], -3, 5);
                float[] g = random(2, rc[1], 0.5, 1.5);
                float[] b = random(3, rc[1], -1, 1);
                assertClose("layerNorm " + Arrays.toString(rc), Reference.layerNorm(x, g, b, rc[0], rc[1], 1e-5),
                        tensor(x, rc).layerNorm(tensor(g, rc[1]), tensor(b, rc[1]), 1e-5f).toFloatArray(), 1e-4, 1e-4);
            }
        }));
        tests.add(dynamicTest("cross-entropy with an ignore index", () -> {
            for (int[] rc : new int[][] {{1, 2}, {6, 7}, {33, 65}, {512, 1000}}) {
                float[] x = random(rc[0], rc[0] * rc[1], -4, 4);
                int[] targets = new int[rc[0]];
                SplittableRandom random = new SplittableRandom(rc[1]);
                for (int i = 0; i < targets.length; i++) {
                    targets[i] = i % 5 == 4 ? -100 : random.nextInt(rc[1]);
                }
                float got = tensor(x, rc).crossEntropy(Tensor.ofInts(backend, targets, rc[0]), -100).item();
                assertEquals(Reference.crossEntropy(x, targets, rc[0], rc[1], -100), got, 1e-5, Arrays.toString(rc));
            }
        }));
        tests.add(dynamicTest("gelu (tanh approximation)", () -> {
            for (int n : SIZES) {
                float[] x = random(n, n, -6, 6);
                assertClose("gelu n=" + n, map(x, Reference::gelu), tensor(x, n).gelu().toFloatArray(), 1e-6, 1e-5);
            }
        }));
        tests.add(dynamicTest("causal attention", () -> {
            for (int[] shape : new int[][] {{1, 1, 1, 4}, {2, 3, 7, 8}, {1, 2, 65, 16}, {2, 1, 130, 8}}) {
                int n = Reference.numel(shape);
                float[] q = random(1, n, -1, 1);
                float[] k = random(2, n, -1, 1);
                float[] v = random(3, n, -1, 1);
                Tensor out = tensor(q, shape).scaledDotProductAttention(tensor(k, shape), tensor(v, shape));
                assertClose("attention " + Arrays.toString(shape), Reference.attention(q, k, v, shape[0], shape[1],
                        shape[2], shape[2], shape[3], 1 / Math.sqrt(shape[3]), true, new int[shape[0]],
                        filled(shape[0], shape[2])), out.toFloatArray(), 1e-5, 1e-4);
            }
        }));
        tests.add(dynamicTest("general attention: Tq ≠ Tk, causal offsets, key lengths, rows that see nothing", () -> {
            long seed = 40;
            for (AttentionShape s : Attention.sampleShapes()) {
                int qn = s.batchHeads() * s.queries() * s.headDim();
                int kn = s.batchHeads() * s.keys() * s.headDim();
                float[] q = random(seed++, qn, -1, 1);
                float[] k = random(seed++, kn, -1, 1);
                float[] v = random(seed++, kn, -1, 1);
                int[] qShape = {s.batch(), s.heads(), s.queries(), s.headDim()};
                int[] kShape = {s.batch(), s.heads(), s.keys(), s.headDim()};
                Tensor out = tensor(q, qShape).scaledDotProductAttention(tensor(k, kShape), tensor(v, kShape), s);
                assertClose(s.toString(), Reference.attention(q, k, v, s.batch(), s.heads(), s.queries(), s.keys(),
                        s.headDim(), s.scale(), s.causal(), s.queryOffsets(), s.keyLengths()), out.toFloatArray(),
                        1e-5, 1e-4);
            }
        }));
        tests.add(dynamicTest("exact gelu (erf) and rms norm", () -> {
            for (int n : SIZES) {
                float[] x = random(n, n, -6, 6);
                assertClose("geluExact n=" + n, map(x, Reference::geluErf), tensor(x, n).geluExact().toFloatArray(),
                        1e-6, 1e-5);
            }
            for (int[] rc : new int[][] {{1, 1}, {4, 7}, {129, 257}}) {
                float[] x = random(rc[1], rc[0] * rc[1], -3, 5);
                float[] g = random(2, rc[1], 0.5, 1.5);
                assertClose("rmsNorm " + Arrays.toString(rc), Reference.rmsNorm(x, g, rc[0], rc[1], 1e-6),
                        tensor(x, rc).rmsNorm(tensor(g, rc[1]), 1e-6f).toFloatArray(), 1e-5, 1e-4);
            }
        }));
        tests.add(dynamicTest("scatterAdd adds into a non-zero table, repeated indices accumulating", () -> {
            int columns = 5;
            float[] table = random(50, 6 * columns, -1, 1);
            float[] src = random(51, 7 * columns, -1, 1);
            int[] indices = {4, 0, 4, 5, 4, 2, 0};
            double[] expected = new double[table.length];
            for (int i = 0; i < table.length; i++) {
                expected[i] = table[i];
            }
            for (int i = 0; i < indices.length; i++) {
                for (int c = 0; c < columns; c++) {
                    expected[indices[i] * columns + c] += src[i * columns + c];
                }
            }
            Storage t = backend.upload(table);
            Storage s = backend.upload(src);
            Storage ids = backend.upload(indices);
            backend.scatterAdd(s, columns, ids, t);
            float[] got = download(t);
            for (Storage storage : List.of(t, s, ids)) {
                backend.release(storage);
            }
            assertClose("scatterAdd", expected, got, 1e-6, 1e-6);
            assertArrayEquals(Arrays.copyOfRange(table, columns, 2 * columns), Arrays.copyOfRange(got, columns,
                    2 * columns), "row 1, never indexed, keeps its values");
        }));
        tests.add(dynamicTest("lstm cell (gate order i, f, g, o)", () -> {
            for (int[] bh : new int[][] {{1, 1}, {3, 7}, {17, 33}, {64, 512}}) {
                int batch = bh[0];
                int hidden = bh[1];
                float[] gates = random(batch, batch * 4 * hidden, -3, 3);
                float[] cPrev = random(hidden, batch * hidden, -2, 2);
                Tensor[] hc = tensor(gates, batch, 4 * hidden).lstmCell(tensor(cPrev, batch, hidden));
                double[] h = new double[batch * hidden];
                double[] c = new double[batch * hidden];
                for (int r = 0; r < batch; r++) {
                    for (int j = 0; j < hidden; j++) {
                        int g0 = r * 4 * hidden + j;
                        double i = 1 / (1 + Math.exp(-gates[g0]));
                        double f = 1 / (1 + Math.exp(-gates[g0 + hidden]));
                        double g = Math.tanh(gates[g0 + 2 * hidden]);
                        double o = 1 / (1 + Math.exp(-gates[g0 + 3 * hidden]));
                        c[r * hidden + j] = f * cPrev[r * hidden + j] + i * g;
                        h[r * hidden + j] = o * Math.tanh(c[r * hidden + j]);
                    }
                }
                assertClose("lstm h " + Arrays.toString(bh), h, hc[0].toFloatArray(), 1e-6, 1e-5);
                assertClose("lstm c " + Arrays.toString(bh), c, hc[1].toFloatArray(), 1e-6, 1e-5);
            }
        }));
        tests.add(dynamicTest("adam and adamw steps", () -> {
            for (boolean decoupled : new boolean[] {false, true}) {
                for (int n : new int[] {1, 17, 100_003}) {
                    float[] p = random(1, n, -1, 1);
                    float[] g = random(2, n, -1, 1);
                    float[] m = random(3, n, -0.1, 0.1);
                    float[] v = random(4, n, 0, 0.01);
                    Storage ps = backend.upload(p);
                    Storage gs = backend.upload(g);
                    Storage ms = backend.upload(m);
                    Storage vs = backend.upload(v);
                    AdamUpdate.OP.kernel(backend).update(ps, gs, ms, vs, new AdamStep(0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, 3));
                    double[][] expected = Reference.adam(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, 3);
                    String what = (decoupled ? "adamw" : "adam") + " n=" + n;
                    assertClose(what + " param", expected[0], download(ps), 1e-6, 1e-5);
                    assertClose(what + " m", expected[1], download(ms), 1e-7, 1e-5);
                    assertClose(what + " v", expected[2], download(vs), 1e-9, 1e-5);
                    for (Storage s : List.of(ps, gs, ms, vs)) {
                        backend.release(s);
                    }
                }
            }
        }));
        return tests.stream();
    }

    private float[] unaryDomain(UnaryOp op, long seed, int n) {
        return switch (op) {
            case LOG, SQRT -> random(seed, n, 0.05, 4);
            case RECIPROCAL -> map2(random(seed, n, 0.25, 2), seed);
            case EXP -> random(seed, n, -10, 10);
            default -> random(seed, n, -5, 5);
        };
    }

    private static float[] map2(float[] x, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextBoolean() ? x[i] : -x[i];
        }
        return x;
    }

    private float[] download(Storage s) {
        float[] out = new float[s.size()];
        backend.download(s, out);
        return out;
    }

    /** backend.binary with broadcast strides computed here, independently of the api's own code. */
    private float[] binary(BinaryOp op, float[] a, int[] aShape, float[] b, int[] bShape) {
        int[] out = Reference.broadcastShape(aShape, bShape);
        Storage as = backend.upload(a);
        Storage bs = backend.upload(b);
        Storage os = backend.allocate(DType.FLOAT32, Reference.numel(out));
        backend.binary(op, as, stridesFor(aShape, out), bs, stridesFor(bShape, out), os, out);
        float[] result = download(os);
        backend.release(as);
        backend.release(bs);
        backend.release(os);
        return result;
    }

    private static int[] stridesFor(int[] shape, int[] out) {
        int[] strides = new int[out.length];
        int stride = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d + out.length - shape.length] = shape[d] == 1 ? 0 : stride;
            stride *= shape[d];
        }
        return strides;
    }

    private void matmulForward() {
        int[][] mnk = {{1, 1, 1}, {1, 33, 17}, {3, 5, 7}, {7, 9, 16}, {17, 31, 65}, {64, 64, 64}, {257, 263, 129},
                {37, 40, 600}};  // the last: k beyond one block of 256 (the opencl K_BLOCK), with a tail
        for (int[] s : mnk) {
            int m = s[0];
            int n = s[1];
            int k = s[2];
            float[] a = random(m, 3 * m * k, -1, 1);
            float[] b = random(n, 3 * k * n, -1, 1);
            String what = " m=" + m + " n=" + n + " k=" + k;
            float[] a1 = Arrays.copyOf(a, m * k);
            float[] b1 = Arrays.copyOf(b, k * n);
            assertClose("2-D" + what, Reference.matmul(a1, b1, 1, m, n, k, true),
                    tensor(a1, m, k).matmul(tensor(b1, k, n)).toFloatArray(), 1e-4, 1e-4);
            assertClose("batched" + what, Reference.matmul(a, b, 3, m, n, k, false),
                    tensor(a, 3, m, k).matmul(tensor(b, 3, k, n)).toFloatArray(), 1e-4, 1e-4);
            assertClose("batch @ matrix" + what, Reference.matmul(a, b1, 3, m, n, k, true),
                    tensor(a, 3, m, k).matmul(tensor(b1, k, n)).toFloatArray(), 1e-4, 1e-4);
            // transposed views: a stored (k, m) and b stored (n, k), multiplied without copies
            Tensor aT = tensor(a1, m, k).mT().contiguous().mT();
            Tensor bT = tensor(b1, k, n).mT().contiguous().mT();
            assertClose("transposed views" + what, Reference.matmul(a1, b1, 1, m, n, k, true),
                    aT.matmul(bT).toFloatArray(), 1e-4, 1e-4);
            float[] matrixTimesBatch = tensor(a1, m, k).matmul(tensor(b, 3, k, n)).toFloatArray();
            for (int i = 0; i < 3; i++) {
                float[] bi = Arrays.copyOfRange(b, i * k * n, (i + 1) * k * n);
                assertClose("matrix @ batch " + i + what, Reference.matmul(a1, bi, 1, m, n, k, true),
                        Arrays.copyOfRange(matrixTimesBatch, i * m * n, (i + 1) * m * n), 1e-4, 1e-4);
            }
        }
        // the Backend primitive with accumulate (C += A·B, as the LSTM's recurrent step uses it), B in either layout
        for (int[] s : new int[][] {{5, 33, 17}, {37, 40, 600}}) {
            int m = s[0];
            int n = s[1];
            int k = s[2];
            float[] a = random(11, m * k, -1, 1);
            float[] b = random(12, k * n, -1, 1);
            float[] c0 = random(13, m * n, -1, 1);
            float[] bStoredTransposed = new float[k * n];
            for (int p = 0; p < k; p++) {
                for (int j = 0; j < n; j++) {
                    bStoredTransposed[j * k + p] = b[p * n + j];
                }
            }
            double[] expected = Reference.matmul(a, b, 1, m, n, k, true);
            for (int i = 0; i < expected.length; i++) {
                expected[i] += c0[i];
            }
            for (boolean transB : new boolean[] {false, true}) {
                Storage as = backend.upload(a);
                Storage bs = backend.upload(transB ? bStoredTransposed : b);
                Storage cs = backend.upload(c0);
                backend.matmul(as, bs, cs, new MatmulShape(1, m, n, k, false, transB, 0, 0, true));
                assertClose("accumulate m=" + m + " n=" + n + " k=" + k + (transB ? " (B transposed)" : ""), expected,
                        download(cs), 1e-4, 1e-4);
                backend.release(as);
                backend.release(bs);
                backend.release(cs);
            }
        }
        // broadcast batch dimensions (2, 1) × (1, 3)
        float[] a = random(1, 2 * 4 * 5, -1, 1);
        float[] b = random(2, 3 * 5 * 6, -1, 1);
        float[] got = tensor(a, 2, 1, 4, 5).matmul(tensor(b, 1, 3, 5, 6)).toFloatArray();
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                double[] expected = Reference.matmul(Arrays.copyOfRange(a, i * 20, i * 20 + 20),
                        Arrays.copyOfRange(b, j * 30, j * 30 + 30), 1, 4, 6, 5, true);
                int base = (i * 3 + j) * 24;
                assertClose("broadcast batch (" + i + "," + j + ")", expected, Arrays.copyOfRange(got, base, base + 24),
                        1e-5, 1e-5);
            }
        }
    }

    private void layoutForward() {
        float[] x = random(9, 2 * 3 * 4, -1, 1);
        Tensor t = tensor(x, 2, 3, 4);
        float[] permuted = t.permute(2, 0, 1).toFloatArray();                       // (4, 2, 3)
        float[] swapped = t.transpose(0, 2).toFloatArray();                         // (4, 3, 2)
        float[] lastTwo = t.transpose(-1, -2).toFloatArray();                      // (2, 4, 3), a view read densely
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < 4; k++) {
                    float v = x[(i * 3 + j) * 4 + k];
                    assertEquals(v, permuted[(k * 2 + i) * 3 + j], 0f, "permute");
                    assertEquals(v, swapped[(k * 3 + j) * 2 + i], 0f, "transpose(0, 2)");
                    assertEquals(v, lastTwo[(i * 4 + k) * 3 + j], 0f, "transpose(-1, -2)");
                }
            }
        }
        float[] sliced = t.slice(1, 1, 3).toFloatArray();                         // (2, 2, 4)
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++) {
                for (int k = 0; k < 4; k++) {
                    assertEquals(x[(i * 3 + j + 1) * 4 + k], sliced[(i * 2 + j) * 4 + k], 0f, "slice");
                }
            }
        }
        float[] y = random(10, 2 * 2 * 4, -1, 1);
        float[] joined = Tensor.concat(List.of(t, tensor(y, 2, 2, 4)), 1).toFloatArray();   // (2, 5, 4)
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 5; j++) {
                for (int k = 0; k < 4; k++) {
                    float expected = j < 3 ? x[(i * 3 + j) * 4 + k] : y[(i * 2 + j - 3) * 4 + k];
                    assertEquals(expected, joined[(i * 5 + j) * 4 + k], 0f, "concat");
                }
            }
        }
        float[] row = random(11, 4, -1, 1);
        float[] expanded = tensor(row, 1, 4).expand(3, 4).toFloatArray();
        for (int i = 0; i < 12; i++) {
            assertEquals(row[i % 4], expanded[i], 0f, "expand");
        }
        assertArrayEquals(x, t.reshape(6, -1).toFloatArray(), "reshape keeps data");
        assertArrayEquals(new int[] {6, 4}, t.reshape(6, -1).shape());
    }

    // ============================================================================================ gradients

    /** One gradient check: inputs (data + shape) and the function of them. */
    private record GradientCase(String name, float[][] inputs, int[][] shapes, Function<List<Tensor>, Tensor> function) {
    }

    private static GradientCase gradCase(String name, Function<List<Tensor>, Tensor> f, Object... dataAndShapes) {
        int count = dataAndShapes.length / 2;
        float[][] inputs = new float[count][];
        int[][] shapes = new int[count][];
        for (int i = 0; i < count; i++) {
            inputs[i] = (float[]) dataAndShapes[2 * i];
            shapes[i] = (int[]) dataAndShapes[2 * i + 1];
        }
        return new GradientCase(name, inputs, shapes, f);
    }

    private static int[] filled(int n, int value) {
        int[] out = new int[n];
        Arrays.fill(out, value);
        return out;
    }

    private static int[] s(int... shape) {
        return shape;
    }

    private Stream<DynamicNode> gradientTests() {
        int[] targets = {2, 0, -100, 6, 1, 3};
        List<GradientCase> cases = List.of(
                gradCase("add (broadcast)", in -> in.get(0).add(in.get(1)),
                        random(1, 12, -1, 1), s(3, 4), random(2, 4, -1, 1), s(4)),
                gradCase("sub (broadcast)", in -> in.get(0).sub(in.get(1)),
                        random(1, 12, -1, 1), s(3, 4), random(2, 3, -1, 1), s(3, 1)),
                gradCase("mul (broadcast)", in -> in.get(0).mul(in.get(1)),
                        random(1, 24, -1, 1), s(2, 3, 4), random(2, 12, -1, 1), s(3, 4)),
                gradCase("div", in -> in.get(0).div(in.get(1)),
                        random(1, 10, -1, 1), s(10), random(2, 10, 0.5, 2), s(10)),
                gradCase("maximum", in -> in.get(0).maximum(in.get(1)),
                        random(1, 10, -1, 1), s(10), separatedFrom(random(1, 10, -1, 1), 2), s(10)),
                gradCase("exp", in -> in.get(0).exp(), random(3, 9, -2, 2), s(9)),
                gradCase("log", in -> in.get(0).log(), random(3, 9, 0.5, 3), s(9)),
                gradCase("tanh", in -> in.get(0).tanh(), random(3, 9, -2, 2), s(9)),
                gradCase("sigmoid", in -> in.get(0).sigmoid(), random(3, 9, -3, 3), s(9)),
                gradCase("relu", in -> in.get(0).relu(), awayFromZero(random(3, 9, -2, 2)), s(9)),
                gradCase("sqrt", in -> in.get(0).sqrt(), random(3, 9, 0.5, 3), s(9)),
                gradCase("abs", in -> in.get(0).abs(), awayFromZero(random(3, 9, -2, 2)), s(9)),
                gradCase("pow", in -> in.get(0).pow(3f), random(3, 9, -1.5, 1.5), s(9)),
                gradCase("neg", in -> in.get(0).neg(), random(3, 9, -1, 1), s(9)),
                gradCase("gelu", in -> in.get(0).gelu(), random(3, 33, -4, 4), s(33)),
                gradCase("sum(dim)", in -> in.get(0).sum(1), random(4, 24, -1, 1), s(2, 3, 4)),
                gradCase("sum()", in -> in.get(0).sum(), random(4, 24, -1, 1), s(2, 3, 4)),
                gradCase("mean(dim, keepdim)", in -> in.get(0).mean(0, true), random(4, 24, -1, 1), s(2, 3, 4)),
                gradCase("max(dim)", in -> in.get(0).max(2, false), random(4, 24, -1, 1), s(2, 3, 4)),
                gradCase("matmul 2-D", in -> in.get(0).matmul(in.get(1)),
                        random(5, 15, -1, 1), s(3, 5), random(6, 20, -1, 1), s(5, 4)),
                gradCase("matmul batched", in -> in.get(0).matmul(in.get(1)),
                        random(5, 30, -1, 1), s(2, 3, 5), random(6, 40, -1, 1), s(2, 5, 4)),
                gradCase("matmul batch @ shared matrix", in -> in.get(0).matmul(in.get(1)),
                        random(5, 30, -1, 1), s(2, 3, 5), random(6, 20, -1, 1), s(5, 4)),
                gradCase("matmul with transposed view (x @ Wᵀ)", in -> in.get(0).matmul(in.get(1).mT()),
                        random(5, 30, -1, 1), s(2, 3, 5), random(6, 20, -1, 1), s(4, 5)),
                gradCase("matmul broadcast batch", in -> in.get(0).matmul(in.get(1)),
                        random(5, 30, -1, 1), s(2, 1, 3, 5), random(6, 60, -1, 1), s(1, 3, 5, 4)),
                gradCase("reshape", in -> in.get(0).reshape(4, 6).mul(in.get(0).reshape(4, 6)),
                        random(7, 24, -1, 1), s(2, 3, 4)),
                gradCase("permute", in -> in.get(0).permute(2, 0, 1), random(7, 24, -1, 1), s(2, 3, 4)),
                gradCase("transpose(0, 2)", in -> in.get(0).transpose(0, 2), random(7, 24, -1, 1), s(2, 3, 4)),
                gradCase("slice", in -> in.get(0).slice(1, 1, 3), random(7, 24, -1, 1), s(2, 3, 4)),
                gradCase("select", in -> in.get(0).select(1, 2), random(7, 24, -1, 1), s(2, 3, 4)),
                gradCase("select along the last dimension", in -> in.get(0).select(-1, 0), random(7, 24, -1, 1),
                        s(2, 3, 4)),
                gradCase("split into pieces and recombined", in -> {
                    List<Tensor> pieces = in.get(0).split(2, 1);          // sizes 2, 2, 1
                    return pieces.get(0).mul(pieces.get(1)).add(pieces.get(2).exp());
                }, random(7, 20, -1, 1), s(2, 5, 2)),
                gradCase("split by sizes", in -> in.get(0).split(new int[] {1, 3}, 0).get(1).tanh(),
                        random(7, 8, -1, 1), s(4, 2)),
                gradCase("overlapping slices, a select and the whole tensor (one gradient buffer)", in -> {
                    Tensor x = in.get(0);
                    return x.slice(0, 0, 3).sum(0).add(x.slice(0, 1, 4).mul(x.slice(0, 1, 4)).sum(0))
                            .add(x.select(0, 2).mul(3f)).add(x.sum(0));
                }, random(7, 12, -1, 1), s(4, 3)),
                gradCase("stack along a new middle dimension", in -> Tensor.stack(List.of(in.get(0), in.get(1).tanh(),
                        in.get(0)), 1), random(7, 6, -1, 1), s(2, 3), random(8, 6, -1, 1), s(2, 3)),
                gradCase("where (broadcast condition)", in -> in.get(0).where(Tensor.of(backend,
                        new float[] {1, 0, 0, 1}, 4), in.get(1)), random(7, 12, -1, 1), s(3, 4), random(8, 4, -1, 1), s(4)),
                gradCase("maskedFill", in -> in.get(0).maskedFill(Tensor.ofInts(backend, new int[] {0, 1, 1, 0, 0, 1},
                        2, 3), 5f).mul(in.get(0)), random(7, 6, -1, 1), s(2, 3)),
                gradCase("concat", in -> Tensor.concat(List.of(in.get(0), in.get(1)), 0),
                        random(7, 8, -1, 1), s(2, 4), random(8, 12, -1, 1), s(3, 4)),
                gradCase("expand", in -> in.get(0).expand(3, 4), random(7, 4, -1, 1), s(1, 4)),
                gradCase("embedding (repeated ids)", in -> in.get(0).embedding(Tensor.ofInts(backend,
                        new int[] {1, 4, 1, 0}, 2, 2)), random(9, 20, -1, 1), s(5, 4)),
                gradCase("softmax", in -> in.get(0).softmax(-1), random(10, 21, -2, 2), s(3, 7)),
                gradCase("logSoftmax", in -> in.get(0).logSoftmax(-1), random(10, 21, -2, 2), s(3, 7)),
                gradCase("layerNorm", in -> in.get(0).layerNorm(in.get(1), in.get(2), 1e-5f),
                        random(11, 24, -2, 2), s(3, 8), random(12, 8, 0.5, 1.5), s(8), random(13, 8, -1, 1), s(8)),
                gradCase("crossEntropy (ignore index)", in -> in.get(0).crossEntropy(
                        Tensor.ofInts(backend, targets, 2, 3), -100), random(14, 42, -2, 2), s(2, 3, 7)),
                gradCase("scaledDotProductAttention", in -> in.get(0).scaledDotProductAttention(in.get(1), in.get(2)),
                        random(15, 48, -1, 1), s(1, 2, 6, 4), random(16, 48, -1, 1), s(1, 2, 6, 4),
                        random(17, 48, -1, 1), s(1, 2, 6, 4)),
                gradCase("attention: 3 queries on 5 keys, causal offsets 2 and 0, key lengths 5 and 3",
                        in -> in.get(0).scaledDotProductAttention(in.get(1), in.get(2), new AttentionShape(2, 1, 3, 5, 4,
                                0.5f, true, new int[] {2, 0}, new int[] {5, 3})),
                        random(15, 24, -1, 1), s(2, 1, 3, 4), random(16, 40, -1, 1), s(2, 1, 5, 4),
                        random(17, 40, -1, 1), s(2, 1, 5, 4)),
                gradCase("attention: cross-attention with padded keys, one row seeing nothing",
                        in -> in.get(0).scaledDotProductAttention(in.get(1), in.get(2), new AttentionShape(3, 2, 2, 4, 3,
                                0.6f, false, new int[3], new int[] {4, 1, 0})),
                        random(15, 36, -1, 1), s(3, 2, 2, 3), random(16, 72, -1, 1), s(3, 2, 4, 3),
                        random(17, 72, -1, 1), s(3, 2, 4, 3)),
                gradCase("rmsNorm", in -> in.get(0).rmsNorm(in.get(1), 1e-6f),
                        random(11, 24, -2, 2), s(3, 8), random(12, 8, 0.5, 1.5), s(8)),
                gradCase("geluExact", in -> in.get(0).geluExact(), random(3, 33, -4, 4), s(33)),
                gradCase("lstmCell h", in -> in.get(0).lstmCell(in.get(1))[0],
                        random(22, 2 * 4 * 5, -2, 2), s(2, 20), random(23, 10, -1, 1), s(2, 5)),
                gradCase("lstmCell c", in -> in.get(0).lstmCell(in.get(1))[1],
                        random(22, 2 * 4 * 5, -2, 2), s(2, 20), random(23, 10, -1, 1), s(2, 5)),
                gradCase("two lstm steps", in -> {
                    Tensor[] first = in.get(0).lstmCell(in.get(1));
                    Tensor[] second = in.get(0).add(first[0].matmul(in.get(2))).lstmCell(first[1]);
                    return second[0].add(second[1]);
                }, random(24, 2 * 12, -1, 1), s(2, 12), random(25, 6, -1, 1), s(2, 3), random(26, 36, -1, 1), s(3, 12)),
                gradCase("a small network", in -> in.get(0).matmul(in.get(1)).gelu().layerNorm(in.get(2), in.get(3), 1e-5f)
                                .sum(1).tanh(),
                        random(18, 12, -1, 1), s(3, 4), random(19, 20, -1, 1), s(4, 5),
                        random(20, 5, 0.5, 1.5), s(5), random(21, 5, -0.5, 0.5), s(5)));
        return cases.stream().map(c -> dynamicTest(c.name(), () -> checkGradient(c)));
    }

    /** x plus offsets of at least 0.1 either way, so no pair sits within a finite-difference step of the kink. */
    private static float[] separatedFrom(float[] x, long seed) {
        float[] offsets = awayFromZero(random(seed, x.length, -1, 1));
        for (int i = 0; i < x.length; i++) {
            offsets[i] += x[i];
        }
        return offsets;
    }

    private static float[] awayFromZero(float[] x) {
        for (int i = 0; i < x.length; i++) {
            if (Math.abs(x[i]) < 0.1f) {
                x[i] = x[i] < 0 ? -0.3f : 0.3f;
            }
        }
        return x;
    }

    /**
     * Compares autograd against central differences of L = Σ w ⊙ f(inputs), with random weights w so that every output
     * matters. L is accumulated in double on the host; h = 1e-2 (float32 inputs).
     */
    private void checkGradient(GradientCase c) {
        List<Tensor> leaves = new ArrayList<>();
        for (int i = 0; i < c.inputs().length; i++) {
            leaves.add(tensor(c.inputs()[i].clone(), c.shapes()[i]).requiresGrad(true));
        }
        Tensor out = c.function().apply(leaves);
        float[] weights = random(99, out.numel(), -1, 1);
        out.mul(tensor(weights, out.shape())).sum().backward();
        double h = 1e-2;
        for (int i = 0; i < leaves.size(); i++) {
            Tensor grad = leaves.get(i).grad();
            assertTrue(grad != null, c.name() + ": input " + i + " got no gradient");
            float[] analytic = grad.toFloatArray();
            float[] x = c.inputs()[i];
            for (int j = 0; j < x.length; j++) {
                float saved = x[j];
                x[j] = (float) (saved + h);
                double plus = weightedSum(c, weights);
                x[j] = (float) (saved - h);
                double minus = weightedSum(c, weights);
                x[j] = saved;
                double numeric = (plus - minus) / (2 * h);
                double tolerance = 5e-3 + 2e-2 * Math.abs(numeric);
                if (!(Math.abs(numeric - analytic[j]) <= tolerance)) {    // a NaN on either side fails too
                    throw new AssertionError(c.name() + ": d/d input" + i + "[" + j + "] is " + analytic[j]
                            + " by autograd but " + numeric + " by finite differences");
                }
            }
        }
    }

    private double weightedSum(GradientCase c, float[] weights) {
        try (var noGrad = GradMode.noGrad()) {
            List<Tensor> inputs = new ArrayList<>();
            for (int i = 0; i < c.inputs().length; i++) {
                inputs.add(tensor(c.inputs()[i], c.shapes()[i]));
            }
            float[] y = c.function().apply(inputs).toFloatArray();
            double sum = 0;
            for (int i = 0; i < y.length; i++) {
                sum += (double) y[i] * weights[i];
            }
            return sum;
        }
    }

    // ============================================================================================ fused vs composed

    /**
     * Every fused kernel the backend registered, against its operation's composition on the same backend, on the
     * operation's own sample inputs: a new operation or a new kernel is covered with no change here.
     */
    private Stream<DynamicNode> fusedTests() {
        List<DynamicNode> tests = new ArrayList<>();
        for (FusedOperation<?> operation : backend.kernels().operations()) {
            tests.add(dynamicTest(operation.name(), () -> compareWithComposition(operation)));
        }
        tests.add(dynamicTest("operations without a registered kernel run their composition", () -> {
            for (FusedOperation<?> operation : List.of(RmsNorm.OP, Softmax.OP, Attention.OP)) {
                Object kernel = operation.kernel(backend);
                assertTrue(operation.kernelType().isInstance(kernel), operation.name());
                if (backend.kernels().find(operation) == null) {
                    assertTrue(kernel != null, operation.name() + " falls back to its composition");
                }
            }
        }));
        return tests.stream();
    }

    private <K> void compareWithComposition(FusedOperation<K> operation) {
        long live = backend.liveStorages();
        List<float[]> expected = operation.sample(backend, operation.composition(backend));
        List<float[]> actual = operation.sample(backend, backend.kernels().find(operation));
        assertEquals(expected.size(), actual.size(), operation.name() + ": outputs");
        for (int i = 0; i < expected.size(); i++) {
            assertClose(operation.name() + " output " + i, expected.get(i), actual.get(i), 2e-5, 2e-4);
        }
        assertEquals(live, backend.liveStorages(), operation.name() + ": sample left storages behind");
    }

    private static float[] softmaxOf(float[] x, int rows, int cols) {
        double[] d = Reference.softmax(x, rows, cols, false);
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }

    private static float[] logOf(float[] y) {
        float[] out = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            out[i] = (float) Math.log(y[i]);
        }
        return out;
    }

    private static float[] logSumExp(float[] x, int rows, int cols) {
        double[] lse = Reference.logSumExp(x, rows, cols);
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = (float) lse[r];
        }
        return out;
    }

    // ============================================================================================ determinism

    private Stream<DynamicNode> determinismTests() {
        return Stream.of(
                dynamicTest("random fills follow CounterRandom exactly", () -> {
                    for (Distribution distribution : Distribution.values()) {
                        Storage s = backend.allocate(DType.FLOAT32, 100_003);
                        backend.randomFill(s, distribution, -0.5f, 2f, 1234L);
                        float[] got = download(s);
                        backend.release(s);
                        for (int i = 0; i < got.length; i += 997) {
                            assertEquals(CounterRandom.sample(distribution, -0.5f, 2f, 1234L, i), got[i], 0f,
                                    distribution + " element " + i);
                        }
                    }
                }),
                dynamicTest("randn has mean 0 and standard deviation 1", () -> {
                    float[] x = Tensor.randn(backend, new Generator(7), 200_000).toFloatArray();
                    double mean = Arrays.stream(map(x, v -> v)).average().orElseThrow();
                    double variance = Arrays.stream(map(x, v -> (v - mean) * (v - mean))).average().orElseThrow();
                    assertEquals(0.0, mean, 0.01);
                    assertEquals(1.0, Math.sqrt(variance), 0.01);
                }),
                dynamicTest("the same seed gives the same tensors", () -> {
                    assertArrayEquals(Tensor.randn(backend, new Generator(42), 1000).toFloatArray(),
                            Tensor.randn(backend, new Generator(42), 1000).toFloatArray());
                    float[] ones = new float[10_000];
                    Arrays.fill(ones, 1f);
                    float[] first = tensor(ones, 10_000).dropout(0.3f, true, new Generator(5)).toFloatArray();
                    float[] second = tensor(ones, 10_000).dropout(0.3f, true, new Generator(5)).toFloatArray();
                    assertArrayEquals(first, second);
                }),
                dynamicTest("dropout drops p and rescales the rest", () -> {
                    float[] ones = new float[100_000];
                    Arrays.fill(ones, 1f);
                    float[] y = tensor(ones, ones.length).dropout(0.25f, true, new Generator(3)).toFloatArray();
                    int zeros = 0;
                    for (float v : y) {
                        if (v == 0f) {
                            zeros++;
                        } else {
                            assertEquals(1f / 0.75f, v, 1e-6f);
                        }
                    }
                    assertEquals(0.25, zeros / (double) y.length, 0.01);
                    assertArrayEquals(ones, tensor(ones, ones.length).dropout(0.25f, false, new Generator(3))
                            .toFloatArray(), "eval mode is the identity");
                }));
    }

    // ============================================================================================ memory

    private Stream<DynamicNode> memoryTests() {
        return Stream.of(dynamicTest("a closed scope leaves no live storage", () -> {
            Tensor w = Tensor.randn(backend, new Generator(1), 16, 8).requiresGrad(true);
            Tensor g = Tensor.ones(backend, 8).requiresGrad(true);
            Tensor bias = Tensor.zeros(backend, 8).requiresGrad(true);
            long before = backend.liveStorages();
            try (MemoryScope step = MemoryScope.open()) {
                Tensor x = Tensor.randn(backend, new Generator(2), 4, 5, 16);
                Tensor logits = x.matmul(w).gelu().layerNorm(g, bias, 1e-5f);
                Tensor loss = logits.crossEntropy(Tensor.ofInts(backend, new int[20], 4, 5), -100);
                loss.backward();
                assertTrue(step.size() > 0, "the step scope owns its activations");
            }
            assertTrue(w.grad() != null, "parameter gradients outlive the step scope");
            w.grad().toFloatArray();
            long leftover = backend.liveStorages() - before;
            assertEquals(3, leftover, "only the three parameter gradients may remain");
            w.zeroGrad();
            g.zeroGrad();
            bias.zeroGrad();
            assertEquals(before, backend.liveStorages(), "zeroGrad releases gradients");
        }), dynamicTest("using a tensor after its scope closed fails clearly", () -> {
            Tensor escaped;
            try (MemoryScope scope = MemoryScope.open()) {
                escaped = Tensor.ones(backend, 3);
            }
            KilnException e = assertThrows(KilnException.class, escaped::toFloatArray);
            assertTrue(e.getMessage().contains("release"), e.getMessage());
        }));
    }

    // ============================================================================================ errors

    private Stream<DynamicNode> errorTests() {
        return Stream.of(
                dynamicTest("matmul names both shapes", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).matmul(Tensor.zeros(backend, 4, 5)), "matmul", "[2, 3]", "[4, 5]")),
                dynamicTest("broadcast failure names the operation and both shapes", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).add(Tensor.zeros(backend, 4)), "add", "[2, 3]", "[4]")),
                dynamicTest("reshape names both shapes", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).reshape(4, 2), "reshape", "[2, 3]", "[4, 2]")),
                dynamicTest("cross-entropy rejects float targets", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).crossEntropy(Tensor.zeros(backend, 2), -1), "crossEntropy",
                        "INT32")),
                dynamicTest("cross-entropy rejects out-of-range targets", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).crossEntropy(Tensor.ofInts(backend, new int[] {0, 3}, 2), -1),
                        "crossEntropy", "3")),
                dynamicTest("embedding rejects out-of-range ids", () -> expectMessage(
                        () -> Tensor.zeros(backend, 4, 3).embedding(Tensor.ofInts(backend, new int[] {4}, 1)),
                        "embedding", "4")),
                dynamicTest("layerNorm names the expected parameter shape", () -> expectMessage(
                        () -> Tensor.zeros(backend, 2, 3).layerNorm(Tensor.ones(backend, 4), Tensor.zeros(backend, 4), 1e-5f),
                        "layerNorm", "[2, 3]", "[3]")));
    }

    private static void expectMessage(Runnable action, String... fragments) {
        KilnException e = assertThrows(KilnException.class, action::run);
        for (String fragment : fragments) {
            assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention " + fragment);
        }
    }
}
