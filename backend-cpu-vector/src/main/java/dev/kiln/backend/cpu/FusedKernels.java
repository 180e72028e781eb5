package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.backend.AdamStep;
import dev.kiln.api.backend.UnaryOp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * One-pass versions of the fused operations whose compositions {@code dev.kiln.api.ops} builds from primitives: each
 * reads its rows once or twice instead of once per primitive, and allocates no temporaries.
 */
final class FusedKernels {
    private static final int GRAIN = 1 << 14;
    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2.0 / Math.PI);
    private static final float GELU_CUBIC = 0.044715f;

    private final Parallel parallel;
    private final boolean vector;
    private final ReduceKernels reduce;

    FusedKernels(Parallel parallel, boolean vector, ReduceKernels reduce) {
        this.parallel = parallel;
        this.vector = vector;
        this.reduce = reduce;
    }

    private int rowGrain(int cols) {
        return Math.max(1, GRAIN / Math.max(1, cols));
    }

    // ---------------------------------------------------------------- softmax family

    /** out = exp(x − shift) over one row; returns the sum of the exponentials. */
    private float expShifted(float[] x, int offset, int n, float shift, float[] out, int outOffset) {
        int i = 0;
        float sum = 0f;
        if (vector) {
            FloatVector acc = FloatVector.zero(F);
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(F, x, offset + i).sub(shift));
                if (out != null) {
                    e.intoArray(out, outOffset + i);
                }
                acc = acc.add(e);
            }
            sum = VectorMath.sum(acc);
        }
        for (; i < n; i++) {
            float e = (float) Math.exp(x[offset + i] - shift);
            if (out != null) {
                out[outOffset + i] = e;
            }
            sum += e;
        }
        return sum;
    }

    /** out[i] = x[i]·scale + shift over one run (out may be x). */
    private void affine(float[] x, int offset, int n, float scale, float shift, float[] out, int outOffset) {
        int i = 0;
        if (vector) {
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector.fromArray(F, x, offset + i).fma(scale, shift).intoArray(out, outOffset + i);
            }
        }
        for (; i < n; i++) {
            out[outOffset + i] = x[offset + i] * scale + shift;
        }
    }

    void softmax(float[] x, float[] out, int rows, int cols) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float max = reduce.max(x, o, cols);
                float sum = expShifted(x, o, cols, max, out, o);
                affine(out, o, cols, 1f / sum, 0f, out, o);
            }
        });
    }

    void logSoftmax(float[] x, float[] out, int rows, int cols) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float max = reduce.max(x, o, cols);
                float logSum = (float) Math.log(expShifted(x, o, cols, max, null, 0));
                affine(x, o, cols, 1f, -(max + logSum), out, o);
            }
        });
    }

    private float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return VectorMath.dot(vector, a, aOff, b, bOff, n);
    }

    void softmaxBackward(float[] y, float[] dy, float[] dx, int rows, int cols) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float d = dot(dy, o, y, o, cols);
                int i = 0;
                if (vector) {
                    for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                        FloatVector.fromArray(F, dy, o + i).sub(d).mul(FloatVector.fromArray(F, y, o + i))
                                .intoArray(dx, o + i);
                    }
                }
                for (; i < cols; i++) {
                    dx[o + i] = (dy[o + i] - d) * y[o + i];
                }
            }
        });
    }

    void logSoftmaxBackward(float[] y, float[] dy, float[] dx, int rows, int cols) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float s = reduce.sum(dy, o, cols);
                int i = 0;
                if (vector) {
                    for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                        FloatVector e = VectorMath.exp(FloatVector.fromArray(F, y, o + i));
                        FloatVector.fromArray(F, dy, o + i).sub(e.mul(s)).intoArray(dx, o + i);
                    }
                }
                for (; i < cols; i++) {
                    dx[o + i] = dy[o + i] - (float) Math.exp(y[o + i]) * s;
                }
            }
        });
    }

    // ---------------------------------------------------------------- layer norm

    void layerNorm(float[] x, float[] gamma, float[] beta, float[] out, float[] mean, float[] rstd,
                   int rows, int cols, float eps) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float mu = reduce.sum(x, o, cols) / cols;
                float variance = 0f;
                int i = 0;
                if (vector) {
                    FloatVector acc = FloatVector.zero(F);
                    for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                        FloatVector d = FloatVector.fromArray(F, x, o + i).sub(mu);
                        acc = d.fma(d, acc);
                    }
                    variance = VectorMath.sum(acc);
                }
                for (; i < cols; i++) {
                    float d = x[o + i] - mu;
                    variance += d * d;
                }
                float rs = (float) (1.0 / Math.sqrt(variance / cols + eps));
                mean[r] = mu;
                rstd[r] = rs;
                i = 0;
                if (vector) {
                    for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                        FloatVector.fromArray(F, x, o + i).sub(mu).mul(rs)
                                .fma(FloatVector.fromArray(F, gamma, i), FloatVector.fromArray(F, beta, i))
                                .intoArray(out, o + i);
                    }
                }
                for (; i < cols; i++) {
                    out[o + i] = (x[o + i] - mu) * rs * gamma[i] + beta[i];
                }
            }
        });
    }

    /** dgamma and dbeta are summed per chunk of rows, then the chunks are added (no races, no atomics). */
    void layerNormBackward(float[] x, float[] gamma, float[] mean, float[] rstd, float[] dy,
                           float[] dx, float[] dgamma, float[] dbeta, int rows, int cols) {
        int chunks = Math.max(1, Math.min(parallel.threads() * 4, rows / Math.max(1, rowGrain(cols))));
        float[][] partial = new float[chunks][2 * cols];
        int perChunk = (rows + chunks - 1) / chunks;
        parallel.forRange(chunks, 1, (c0, c1) -> {
            for (int chunk = c0; chunk < c1; chunk++) {
                float[] sums = partial[chunk];
                for (int r = chunk * perChunk; r < Math.min(rows, (chunk + 1) * perChunk); r++) {
                    layerNormBackwardRow(x, gamma, mean[r], rstd[r], dy, dx, r * cols, cols, sums);
                }
            }
        });
        java.util.Arrays.fill(dgamma, 0, cols, 0f);
        java.util.Arrays.fill(dbeta, 0, cols, 0f);
        for (float[] sums : partial) {
            for (int i = 0; i < cols; i++) {
                dgamma[i] += sums[i];
                dbeta[i] += sums[cols + i];
            }
        }
    }

    private void layerNormBackwardRow(float[] x, float[] gamma, float mu, float rs, float[] dy, float[] dx,
                                      int o, int cols, float[] sums) {
        // a = mean(dy·γ), b = mean(dy·γ·x̂); dx = rs·(dy·γ − a − x̂·b)
        float a = 0f;
        float b = 0f;
        int i = 0;
        if (vector) {
            FloatVector va = FloatVector.zero(F);
            FloatVector vb = FloatVector.zero(F);
            for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                FloatVector xhat = FloatVector.fromArray(F, x, o + i).sub(mu).mul(rs);
                FloatVector d = FloatVector.fromArray(F, dy, o + i);
                FloatVector g = d.mul(FloatVector.fromArray(F, gamma, i));
                va = va.add(g);
                vb = g.fma(xhat, vb);
                d.fma(xhat, FloatVector.fromArray(F, sums, i)).intoArray(sums, i);
                d.add(FloatVector.fromArray(F, sums, cols + i)).intoArray(sums, cols + i);
            }
            a = VectorMath.sum(va);
            b = VectorMath.sum(vb);
        }
        for (; i < cols; i++) {
            float xhat = (x[o + i] - mu) * rs;
            float g = dy[o + i] * gamma[i];
            a += g;
            b += g * xhat;
            sums[i] += dy[o + i] * xhat;
            sums[cols + i] += dy[o + i];
        }
        a /= cols;
        b /= cols;
        i = 0;
        if (vector) {
            for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                FloatVector xhat = FloatVector.fromArray(F, x, o + i).sub(mu).mul(rs);
                FloatVector g = FloatVector.fromArray(F, dy, o + i).mul(FloatVector.fromArray(F, gamma, i));
                g.sub(a).sub(xhat.mul(b)).mul(rs).intoArray(dx, o + i);
            }
        }
        for (; i < cols; i++) {
            float xhat = (x[o + i] - mu) * rs;
            dx[o + i] = (dy[o + i] * gamma[i] - a - xhat * b) * rs;
        }
    }

    // ---------------------------------------------------------------- cross-entropy

    void crossEntropy(float[] logits, int[] targets, float[] rowLoss, float[] rowLse, int rows, int cols,
                      int ignoreIndex) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                float max = reduce.max(logits, o, cols);
                float lse = max + (float) Math.log(expShifted(logits, o, cols, max, null, 0));
                rowLse[r] = lse;
                rowLoss[r] = targets[r] == ignoreIndex ? 0f : lse - logits[o + targets[r]];
            }
        });
    }

    void crossEntropyBackward(float[] logits, int[] targets, float[] rowLse, float[] dlogits, float scale,
                              int rows, int cols, int ignoreIndex) {
        parallel.forRange(rows, rowGrain(cols), (start, end) -> {
            for (int r = start; r < end; r++) {
                int o = r * cols;
                if (targets[r] == ignoreIndex) {
                    java.util.Arrays.fill(dlogits, o, o + cols, 0f);
                    continue;
                }
                float lse = rowLse[r];
                int i = 0;
                if (vector) {
                    for (int bound = F.loopBound(cols); i < bound; i += LANES) {
                        VectorMath.exp(FloatVector.fromArray(F, logits, o + i).sub(lse)).mul(scale)
                                .intoArray(dlogits, o + i);
                    }
                }
                for (; i < cols; i++) {
                    dlogits[o + i] = (float) Math.exp(logits[o + i] - lse) * scale;
                }
                dlogits[o + targets[r]] -= scale;
            }
        });
    }

    // ---------------------------------------------------------------- GELU (tanh approximation)

    void gelu(float[] x, float[] out, int n) {
        parallel.forRange(n, GRAIN, (start, end) -> {
            int i = start;
            if (vector) {
                for (int bound = start + F.loopBound(end - start); i < bound; i += LANES) {
                    FloatVector v = FloatVector.fromArray(F, x, i);
                    FloatVector t = VectorMath.tanh(v.mul(v).fma(GELU_CUBIC, 1f).mul(v).mul(SQRT_2_OVER_PI));
                    t.add(1f).mul(v).mul(0.5f).intoArray(out, i);
                }
            }
            for (; i < end; i++) {
                float v = x[i];
                float t = (float) Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
                out[i] = 0.5f * v * (1f + t);
            }
        });
    }

    void geluBackward(float[] x, float[] dy, float[] dx, int n) {
        parallel.forRange(n, GRAIN, (start, end) -> {
            int i = start;
            if (vector) {
                for (int bound = start + F.loopBound(end - start); i < bound; i += LANES) {
                    FloatVector v = FloatVector.fromArray(F, x, i);
                    FloatVector v2 = v.mul(v);
                    FloatVector t = VectorMath.tanh(v2.fma(GELU_CUBIC, 1f).mul(v).mul(SQRT_2_OVER_PI));
                    FloatVector slope = v2.fma(3f * GELU_CUBIC, 1f).mul(SQRT_2_OVER_PI);
                    FloatVector d = t.add(1f).add(v.mul(t.mul(t).neg().add(1f)).mul(slope)).mul(0.5f);
                    d.mul(FloatVector.fromArray(F, dy, i)).intoArray(dx, i);
                }
            }
            for (; i < end; i++) {
                float v = x[i];
                float t = (float) Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
                float slope = SQRT_2_OVER_PI * (1f + 3f * GELU_CUBIC * v * v);
                dx[i] = dy[i] * 0.5f * (1f + t + v * (1f - t * t) * slope);
            }
        });
    }

    // ---------------------------------------------------------------- GELU (exact, with erf)

    private static final double INV_SQRT_2 = 1.0 / Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    /** Φ(x), rounded to float as the composition's erf step rounds it. */
    private static float normalCdf(float x) {
        float erf = (float) UnaryOp.erf((float) (x * INV_SQRT_2));
        return (erf + 1f) * 0.5f;
    }

    void geluErf(float[] x, float[] out, int n) {
        parallel.forRange(n, GRAIN, (start, end) -> {
            for (int i = start; i < end; i++) {
                out[i] = x[i] * normalCdf(x[i]);
            }
        });
    }

    void geluErfBackward(float[] x, float[] dy, float[] dx, int n) {
        parallel.forRange(n, GRAIN, (start, end) -> {
            for (int i = start; i < end; i++) {
                float v = x[i];
                float density = (float) (Math.exp(-0.5 * v * v) * INV_SQRT_2PI);
                dx[i] = dy[i] * (normalCdf(v) + v * density);
            }
        });
    }

    // ---------------------------------------------------------------- Adam / AdamW

    void adam(float[] p, float[] g, float[] m, float[] v, int n, AdamStep s) {
        // constants rounded from double, as PyTorch rounds its Python-float hyperparameters
        float b1 = (float) s.beta1();
        float b2 = (float) s.beta2();
        float oneMinusB1 = (float) (1 - s.beta1());
        float oneMinusB2 = (float) (1 - s.beta2());
        float decayFactor = s.decoupled() ? (float) (1 - s.lr() * s.weightDecay()) : 1f;
        float l2 = s.decoupled() ? 0f : (float) s.weightDecay();
        float stepSize = (float) (s.lr() / (1.0 - Math.pow(s.beta1(), s.step())));
        float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(s.beta2(), s.step()));
        float eps = (float) s.eps();
        parallel.forRange(n, GRAIN, (start, end) -> {
            int i = start;
            if (vector) {
                for (int bound = start + F.loopBound(end - start); i < bound; i += LANES) {
                    FloatVector pv = FloatVector.fromArray(F, p, i);
                    FloatVector gv = FloatVector.fromArray(F, g, i);
                    if (l2 != 0f) {
                        gv = pv.mul(l2).add(gv);
                    }
                    FloatVector mv = FloatVector.fromArray(F, m, i).mul(b1).add(gv.mul(oneMinusB1));
                    FloatVector vv = FloatVector.fromArray(F, v, i).mul(b2).add(gv.mul(gv).mul(oneMinusB2));
                    mv.intoArray(m, i);
                    vv.intoArray(v, i);
                    FloatVector denom = vv.sqrt().div(bc2Sqrt).add(eps);
                    pv.mul(decayFactor).sub(mv.div(denom).mul(stepSize)).intoArray(p, i);
                }
            }
            for (; i < end; i++) {
                float gi = l2 != 0f ? g[i] + l2 * p[i] : g[i];
                float mi = m[i] * b1 + gi * oneMinusB1;
                float vi = v[i] * b2 + gi * gi * oneMinusB2;
                m[i] = mi;
                v[i] = vi;
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                p[i] = p[i] * decayFactor - mi / denom * stepSize;
            }
        });
    }

    // ---------------------------------------------------------------- LSTM cell (gate order i, f, g, o)

    void lstmCell(float[] gates, float[] cPrev, float[] h, float[] c, float[] act, int batch, int hidden) {
        parallel.forRange(batch, Math.max(1, GRAIN / (4 * hidden)), (start, end) -> {
            for (int r = start; r < end; r++) {
                int g0 = r * 4 * hidden;
                // activations first, one gate block at a time (short loops keep C2's vector code in registers)
                for (int gate = 0; gate < 4; gate++) {
                    activate(gates, act, g0 + gate * hidden, hidden, gate == 2);
                }
                int o = r * hidden;
                int j = 0;
                if (vector) {
                    for (int bound = F.loopBound(hidden); j < bound; j += LANES) {
                        FloatVector ci = FloatVector.fromArray(F, act, g0 + hidden + j)
                                .mul(FloatVector.fromArray(F, cPrev, o + j))
                                .add(FloatVector.fromArray(F, act, g0 + j).mul(FloatVector.fromArray(F, act, g0 + 2 * hidden + j)));
                        ci.intoArray(c, o + j);
                        VectorMath.tanh(ci).mul(FloatVector.fromArray(F, act, g0 + 3 * hidden + j))
                                .intoArray(h, o + j);
                    }
                }
                for (; j < hidden; j++) {
                    float ci = act[g0 + hidden + j] * cPrev[o + j] + act[g0 + j] * act[g0 + 2 * hidden + j];
                    c[o + j] = ci;
                    h[o + j] = act[g0 + 3 * hidden + j] * (float) Math.tanh(ci);
                }
            }
        });
    }

    private void activate(float[] x, float[] out, int offset, int n, boolean tanh) {
        int j = 0;
        if (vector) {
            for (int bound = F.loopBound(n); j < bound; j += LANES) {
                FloatVector v = FloatVector.fromArray(F, x, offset + j);
                FloatVector y = tanh ? VectorMath.tanh(v) : VectorMath.sigmoid(v);
                y.intoArray(out, offset + j);
            }
        }
        for (; j < n; j++) {
            float v = x[offset + j];
            out[offset + j] = tanh ? (float) Math.tanh(v) : (float) (1.0 / (1.0 + Math.exp(-v)));
        }
    }

    void lstmCellBackward(float[] act, float[] cPrev, float[] c, float[] dh, float[] dc, float[] dGates, float[] dCPrev,
                          int batch, int hidden) {
        parallel.forRange(batch, Math.max(1, GRAIN / (4 * hidden)), (start, end) -> {
            for (int r = start; r < end; r++) {
                int g0 = r * 4 * hidden;
                int o = r * hidden;
                for (int j = 0; j < hidden; j++) {
                    float i = act[g0 + j];
                    float f = act[g0 + hidden + j];
                    float g = act[g0 + 2 * hidden + j];
                    float out = act[g0 + 3 * hidden + j];
                    float tc = (float) Math.tanh(c[o + j]);
                    float dcTotal = dc[o + j] + dh[o + j] * out * (1f - tc * tc);
                    dGates[g0 + j] = dcTotal * g * i * (1f - i);
                    dGates[g0 + hidden + j] = dcTotal * cPrev[o + j] * f * (1f - f);
                    dGates[g0 + 2 * hidden + j] = dcTotal * i * (1f - g * g);
                    dGates[g0 + 3 * hidden + j] = dh[o + j] * tc * out * (1f - out);
                    dCPrev[o + j] = dcTotal * f;
                }
            }
        });
    }
}
