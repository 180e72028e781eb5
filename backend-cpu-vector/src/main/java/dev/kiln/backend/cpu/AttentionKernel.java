package dev.kiln.backend.cpu;

import dev.kiln.api.ops.AttentionShape;
import java.util.Arrays;

/**
 * Attention without the Tq×Tk matrix: each query row walks the keys it sees (a prefix: causal offset and key length
 * decide where it ends) in blocks of {@link #KEY_BLOCK}, keeping a
 * running maximum and sum (online softmax), so memory per thread is one block of scores whatever the context length.
 * The backward pass recomputes probabilities from the saved log-sum-exp (FlashAttention's trick) and runs one
 * (batch, head) per task, so the dK and dV sums never race.
 */
final class AttentionKernel {
    static final int KEY_BLOCK = 64;

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[KEY_BLOCK]);

    private final Parallel parallel;
    private final boolean vector;

    AttentionKernel(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
    }

    void forward(float[] q, float[] k, float[] v, float[] out, float[] lse, AttentionShape shape) {
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

    void backward(float[] q, float[] k, float[] v, float[] out, float[] lse, float[] dout,
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
