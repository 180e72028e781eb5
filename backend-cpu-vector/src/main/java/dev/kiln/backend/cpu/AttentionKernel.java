package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.ops.AttentionShape;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Attention without the Tq×Tk matrix. Each query walks the keys it sees (a prefix: causal offset and key length decide
 * where it ends) in blocks of {@link #KEY_BLOCK}, keeping a running maximum and sum (online softmax), so memory per
 * thread is one block of scores whatever the context length. The backward pass recomputes probabilities from the saved
 * log-sum-exp (FlashAttention's trick) and runs one (batch, head) per task, so the dK and dV sums never race.
 *
 * <p>The vector path works on tiles: {@link #QUERY_BLOCK} queries by {@link #KEY_BLOCK} keys at a time, every product
 * of a tile (scores, P·V, dP, dV, dK, dQ) one {@link TileProduct}, with the head's keys and values transposed and
 * padded once per task so that no product needs a horizontal sum or a scalar tail. Each query's scores and output add
 * their terms in the same order whichever block it falls in, so a row's result does not depend on the rows beside it.
 * Fewer than {@link #BLOCKED_MIN_QUERIES} queries (a decoding step) walk row by row, where transposing the cache would
 * cost as much as the attention; the scalar path is the row walk too.
 */
final class AttentionKernel {
    static final int KEY_BLOCK = 64;
    static final int QUERY_BLOCK = 32;
    static final int BLOCKED_MIN_QUERIES = 8;

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[KEY_BLOCK]);
    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private final Parallel parallel;
    private final boolean vector;

    AttentionKernel(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
    }

    void forward(float[] q, float[] k, float[] v, float[] out, float[] lse, AttentionShape shape) {
        if (vector && shape.queries() >= BLOCKED_MIN_QUERIES) {
            blockedForward(q, k, v, out, lse, shape);
        } else {
            rowForward(q, k, v, out, lse, shape);
        }
    }

    void backward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dout,
                  float[] dq, float[] dk, float[] dv, AttentionShape shape) {
        if (vector) {
            blockedBackward(q, k, v, out, lse, dout, dq, dk, dv, shape);
        } else {
            rowBackward(q, k, v, out, lse, dout, dq, dk, dv, shape);
        }
    }

    private void rowForward(float[] q, float[] k, float[] v, float[] out, float[] lse, AttentionShape shape) {
        int tq = shape.queries();
        int tk = shape.keys();
        int d = shape.headDim();
        float scale = shape.scale();
        int rows = shape.batchHeads() * tq;
        parallel.forRange(rows, Math.max(1, 4096 / Math.max(1, tk * d / 64)), (start, end) -> {
            float[] scores = SCORES.get();
            for (int row = start; row < end; row++) {
                int head = row / tq;
                int i = row % tq;
                int qOff = row * d;
                int base = head * tk * d;
                int visible = shape.visibleKeys(head / shape.heads(), i);
                Arrays.fill(out, qOff, qOff + d, 0f);
                if (visible == 0) {
                    lse[row] = Float.NEGATIVE_INFINITY;
                    continue;
                }
                float runningMax = Float.NEGATIVE_INFINITY;
                float runningSum = 0f;
                for (int j0 = 0; j0 < visible; j0 += KEY_BLOCK) {
                    int j1 = Math.min(visible, j0 + KEY_BLOCK);
                    float blockMax = Float.NEGATIVE_INFINITY;
                    for (int j = j0; j < j1; j++) {
                        float s = dot(q, qOff, k, base + j * d, d) * scale;
                        scores[j - j0] = s;
                        blockMax = Math.max(blockMax, s);
                    }
                    float newMax = Math.max(runningMax, blockMax);
                    float correction = (float) Math.exp(runningMax - newMax);
                    if (correction != 1f) {
                        scale(out, qOff, d, correction);
                    }
                    runningSum *= correction;
                    for (int j = j0; j < j1; j++) {
                        float p = (float) Math.exp(scores[j - j0] - newMax);
                        runningSum += p;
                        axpy(p, v, base + j * d, out, qOff, d);
                    }
                    runningMax = newMax;
                }
                scale(out, qOff, d, 1f / runningSum);
                lse[row] = runningMax + (float) Math.log(runningSum);
            }
        });
    }

    private void rowBackward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dout,
                             float[] dq, float[] dk, float[] dv, AttentionShape shape) {
        int tq = shape.queries();
        int tk = shape.keys();
        int d = shape.headDim();
        float scale = shape.scale();
        parallel.forRange(shape.batchHeads(), 1, (h0, h1) -> {
            for (int head = h0; head < h1; head++) {
                int qBase = head * tq * d;
                int kBase = head * tk * d;
                int batchRow = head / shape.heads();
                Arrays.fill(dq, qBase, qBase + tq * d, 0f);
                Arrays.fill(dk, kBase, kBase + tk * d, 0f);
                Arrays.fill(dv, kBase, kBase + tk * d, 0f);
                for (int i = 0; i < tq; i++) {
                    int visible = shape.visibleKeys(batchRow, i);
                    int qOff = qBase + i * d;
                    float rowDot = dot(dout, qOff, out, qOff, d);
                    float rowLse = lse[head * tq + i];
                    for (int j = 0; j < visible; j++) {
                        int kOff = kBase + j * d;
                        float p = (float) Math.exp(dot(q, qOff, k, kOff, d) * scale - rowLse);
                        axpy(p, dout, qOff, dv, kOff, d);                           // dV_j += p·dO_i
                        float ds = p * (dot(dout, qOff, v, kOff, d) - rowDot) * scale;
                        axpy(ds, k, kOff, dq, qOff, d);                             // dQ_i += ds·K_j
                        axpy(ds, q, qOff, dk, kOff, d);                             // dK_j += ds·Q_i
                    }
                }
            }
        });
    }

    private void blockedForward(float[] q, float[] k, float[] v, float[] out, float[] lse, AttentionShape shape) {
        int tq = shape.queries();
        int tk = shape.keys();
        int d = shape.headDim();
        int dp = roundUp(d);
        float scale = shape.scale();
        int blocks = (tq + QUERY_BLOCK - 1) / QUERY_BLOCK;
        parallel.forRange(shape.batchHeads() * blocks, 1, (t0, t1) -> {
            Workspace w = WORKSPACE.get();
            for (int task = t0; task < t1; task++) {
                int head = task / blocks;
                int i0 = (task % blocks) * QUERY_BLOCK;
                int rows = Math.min(QUERY_BLOCK, tq - i0);
                int batchRow = head / shape.heads();
                int qOff = (head * tq + i0) * d;
                int keys = visibleInBlock(shape, batchRow, i0, rows);
                if (keys == 0) {
                    Arrays.fill(out, qOff, qOff + rows * d, 0f);
                    Arrays.fill(lse, head * tq + i0, head * tq + i0 + rows, Float.NEGATIVE_INFINITY);
                    continue;
                }
                int kp = roundUp(keys);
                float[] keysT = w.keysT = transposed(k, head * tk * d, keys, d, kp, w.keysT);
                float[] values = w.values = padded(v, head * tk * d, keys, d, kp, dp, w.values);
                float[] o = w.output = zeroed(w.output, rows * dp);
                float[] p = w.scores = atLeast(w.scores, QUERY_BLOCK * KEY_BLOCK);
                float[] max = w.rowMax = atLeast(w.rowMax, QUERY_BLOCK);
                float[] sum = w.rowSum = atLeast(w.rowSum, QUERY_BLOCK);
                Arrays.fill(max, 0, rows, Float.NEGATIVE_INFINITY);
                Arrays.fill(sum, 0, rows, 0f);
                for (int j0 = 0; j0 < keys; j0 += KEY_BLOCK) {
                    int width = Math.min(KEY_BLOCK, kp - j0);
                    Arrays.fill(p, 0, rows * KEY_BLOCK, 0f);
                    // S = Q·Kᵀ for this tile                                        (rows, width)
                    TileProduct.multiplyAdd(rows, width, d, q, qOff, d, 1, keysT, j0, kp, p, 0, KEY_BLOCK);
                    for (int r = 0; r < rows; r++) {
                        int seen = Math.min(width, shape.visibleKeys(batchRow, i0 + r) - j0);
                        int row = r * KEY_BLOCK;
                        if (seen <= 0) {
                            Arrays.fill(p, row, row + width, 0f);        // it sees none of these keys
                            continue;
                        }
                        float newMax = Math.max(max[r], scaledMax(p, row, seen, scale));
                        float correction = (float) Math.exp(max[r] - newMax);
                        if (correction != 1f) {
                            VectorMath.scale(true, o, r * dp, dp, correction);
                        }
                        sum[r] = sum[r] * correction + exponentiate(p, row, width, seen, scale, newMax);
                        max[r] = newMax;
                    }
                    // O += P·V                                                     (rows, dp)
                    TileProduct.multiplyAdd(rows, dp, width, p, 0, KEY_BLOCK, 1, values, j0 * dp, dp, o, 0, dp);
                }
                for (int r = 0; r < rows; r++) {
                    int at = qOff + r * d;
                    if (sum[r] == 0f) {
                        Arrays.fill(out, at, at + d, 0f);
                        lse[head * tq + i0 + r] = Float.NEGATIVE_INFINITY;
                        continue;
                    }
                    float inverse = 1f / sum[r];
                    for (int c = 0; c < d; c++) {
                        out[at + c] = o[r * dp + c] * inverse;
                    }
                    lse[head * tq + i0 + r] = max[r] + (float) Math.log(sum[r]);
                }
            }
        });
    }

    private void blockedBackward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dout,
                                 float[] dq, float[] dk, float[] dv, AttentionShape shape) {
        int tq = shape.queries();
        int tk = shape.keys();
        int d = shape.headDim();
        int dp = roundUp(d);
        float scale = shape.scale();
        parallel.forRange(shape.batchHeads(), 1, (h0, h1) -> {
            Workspace w = WORKSPACE.get();
            for (int head = h0; head < h1; head++) {
                int qBase = head * tq * d;
                int kBase = head * tk * d;
                int batchRow = head / shape.heads();
                int keys = visibleInBlock(shape, batchRow, 0, tq);
                // the copies out below write dQ whole and dK, dV up to the last key seen; only the rest is zeroed
                Arrays.fill(dk, kBase + keys * d, kBase + tk * d, 0f);
                Arrays.fill(dv, kBase + keys * d, kBase + tk * d, 0f);
                if (keys == 0) {
                    Arrays.fill(dq, qBase, qBase + tq * d, 0f);
                    continue;
                }
                int kp = roundUp(keys);
                float[] keysT = w.keysT = transposed(k, kBase, keys, d, kp, w.keysT);
                float[] valuesT = w.valuesT = transposed(v, kBase, keys, d, kp, w.valuesT);
                float[] keyRows = w.values = padded(k, kBase, keys, d, kp, dp, w.values);
                float[] dQ = w.output = zeroed(w.output, tq * dp);
                float[] dKt = w.keyGradsT = zeroed(w.keyGradsT, d * kp);
                float[] dVt = w.valueGradsT = zeroed(w.valueGradsT, d * kp);
                float[] p = w.scores = atLeast(w.scores, QUERY_BLOCK * KEY_BLOCK);
                float[] g = w.scoreGrads = atLeast(w.scoreGrads, QUERY_BLOCK * KEY_BLOCK);
                float[] rowDot = w.rowSum = atLeast(w.rowSum, tq);        // dO_i·O_i, the softmax's own term
                for (int i = 0; i < tq; i++) {
                    rowDot[i] = dot(dout, qBase + i * d, out, qBase + i * d, d);
                }
                for (int i0 = 0; i0 < tq; i0 += QUERY_BLOCK) {
                    int rows = Math.min(QUERY_BLOCK, tq - i0);
                    int blockKeys = visibleInBlock(shape, batchRow, i0, rows);
                    int qOff = qBase + i0 * d;
                    for (int j0 = 0; j0 < blockKeys; j0 += KEY_BLOCK) {
                        int width = Math.min(KEY_BLOCK, roundUp(blockKeys) - j0);
                        Arrays.fill(p, 0, rows * KEY_BLOCK, 0f);
                        Arrays.fill(g, 0, rows * KEY_BLOCK, 0f);
                        // S = Q·Kᵀ and dP = dO·Vᵀ                                   (rows, width)
                        TileProduct.multiplyAdd(rows, width, d, q, qOff, d, 1, keysT, j0, kp, p, 0, KEY_BLOCK);
                        TileProduct.multiplyAdd(rows, width, d, dout, qOff, d, 1, valuesT, j0, kp, g, 0, KEY_BLOCK);
                        for (int r = 0; r < rows; r++) {
                            int i = i0 + r;
                            int seen = Math.min(width, shape.visibleKeys(batchRow, i) - j0);
                            softmaxGradient(p, g, r * KEY_BLOCK, width, Math.max(0, seen), scale,
                                    lse[head * tq + i], rowDot[i]);
                        }
                        // dVᵀ += dOᵀ·P, dKᵀ += Qᵀ·dS                               (d, width)
                        TileProduct.multiplyAdd(d, width, rows, dout, qOff, 1, d, p, 0, KEY_BLOCK, dVt, j0, kp);
                        TileProduct.multiplyAdd(d, width, rows, q, qOff, 1, d, g, 0, KEY_BLOCK, dKt, j0, kp);
                        // dQ += dS·K                                                (rows, dp)
                        TileProduct.multiplyAdd(rows, dp, width, g, 0, KEY_BLOCK, 1, keyRows, j0 * dp, dp,
                                dQ, i0 * dp, dp);
                    }
                }
                for (int i = 0; i < tq; i++) {
                    System.arraycopy(dQ, i * dp, dq, qBase + i * d, d);
                }
                for (int c = 0; c < d; c++) {
                    for (int j = 0; j < keys; j++) {
                        dk[kBase + j * d + c] = dKt[c * kp + j];
                        dv[kBase + j * d + c] = dVt[c * kp + j];
                    }
                }
            }
        });
    }

    /** How many keys the widest of queries [i0, i0 + rows) of a batch row sees (visible keys are a prefix). */
    private static int visibleInBlock(AttentionShape shape, int batchRow, int i0, int rows) {
        int keys = 0;
        for (int r = 0; r < rows; r++) {
            keys = Math.max(keys, shape.visibleKeys(batchRow, i0 + r));
        }
        return keys;
    }

    /** The largest of scale·s over the first {@code seen} scores of a row. */
    private static float scaledMax(float[] s, int off, int seen, float scale) {
        FloatVector best = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < seen; j += LANES) {
            FloatVector x = FloatVector.fromArray(F, s, off + j).mul(scale);
            best = best.max(x.blend(Float.NEGATIVE_INFINITY, F.indexInRange(j, seen).not()));
        }
        return best.reduceLanes(VectorOperators.MAX);
    }

    /** s ← exp(scale·s − max) for the first {@code seen} of {@code width} scores, zero after; returns their sum. */
    private static float exponentiate(float[] s, int off, int width, int seen, float scale, float max) {
        FloatVector total = FloatVector.zero(F);
        for (int j = 0; j < width; j += LANES) {
            FloatVector e = FloatVector.zero(F);
            if (j < seen) {
                e = VectorMath.exp(FloatVector.fromArray(F, s, off + j).mul(scale).sub(max))
                        .blend(0f, F.indexInRange(j, seen).not());
                total = total.add(e);
            }
            e.intoArray(s, off + j);
        }
        return VectorMath.sum(total);
    }

    /**
     * From the scores S and dP = dO·Vᵀ of one query: P = exp(scale·S − lse) in place of S, dS = P·(dP − dO·O)·scale in
     * place of dP, both zero past the {@code seen} keys.
     */
    private static void softmaxGradient(float[] s, float[] g, int off, int width, int seen, float scale, float lse,
                                        float rowDot) {
        for (int j = 0; j < width; j += LANES) {
            FloatVector pv = FloatVector.zero(F);
            FloatVector ds = FloatVector.zero(F);
            if (j < seen) {
                VectorMask<Float> live = F.indexInRange(j, seen);
                pv = VectorMath.exp(FloatVector.fromArray(F, s, off + j).mul(scale).sub(lse)).blend(0f, live.not());
                ds = pv.mul(FloatVector.fromArray(F, g, off + j).sub(rowDot)).mul(scale).blend(0f, live.not());
            }
            pv.intoArray(s, off + j);
            ds.intoArray(g, off + j);
        }
    }

    /** The first {@code keys} rows of a head (d floats each) as a d × kp matrix, zero past column {@code keys}. */
    private static float[] transposed(float[] x, int base, int keys, int d, int kp, float[] into) {
        float[] t = atLeast(into, d * kp);
        for (int c = 0; c < d; c++) {
            int row = c * kp;
            for (int j = 0; j < keys; j++) {
                t[row + j] = x[base + j * d + c];
            }
            Arrays.fill(t, row + keys, row + kp, 0f);
        }
        return t;
    }

    /** The first {@code keys} rows of a head as kp rows of dp floats, zero past column d and row {@code keys}. */
    private static float[] padded(float[] x, int base, int keys, int d, int kp, int dp, float[] into) {
        float[] t = atLeast(into, kp * dp);
        for (int j = 0; j < keys; j++) {
            System.arraycopy(x, base + j * d, t, j * dp, d);
            Arrays.fill(t, j * dp + d, (j + 1) * dp, 0f);
        }
        Arrays.fill(t, keys * dp, kp * dp, 0f);
        return t;
    }

    private static int roundUp(int n) {
        return (n + LANES - 1) / LANES * LANES;
    }

    private static float[] atLeast(float[] a, int n) {
        return a.length >= n ? a : new float[n];
    }

    private static float[] zeroed(float[] a, int n) {
        float[] t = atLeast(a, n);
        Arrays.fill(t, 0, n, 0f);
        return t;
    }

    /** One thread's tiles and transposed copies, grown to the largest head it has seen and reused. */
    private static final class Workspace {
        float[] keysT = new float[0];
        float[] valuesT = new float[0];
        float[] values = new float[0];
        float[] output = new float[0];
        float[] keyGradsT = new float[0];
        float[] valueGradsT = new float[0];
        float[] scores = new float[0];
        float[] scoreGrads = new float[0];
        float[] rowMax = new float[0];
        float[] rowSum = new float[0];
    }

    private float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return VectorMath.dot(vector, a, aOff, b, bOff, n);
    }

    private void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        VectorMath.axpy(vector, alpha, x, xOff, y, yOff, n);
    }

    private void scale(float[] y, int off, int n, float factor) {
        VectorMath.scale(vector, y, off, n, factor);
    }
}
