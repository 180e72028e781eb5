package dev.kiln.conformance;

import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.UnaryOp;

/**
 * Plain double-precision definitions of every operation, written for clarity only: what the kit compares each backend
 * against. Arrays are dense row-major.
 */
public final class Reference {
    private Reference() {
    }

    public static double unary(UnaryOp op, double x) {
        return switch (op) {
            case NEG -> -x;
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> 1.0 / (1.0 + Math.exp(-x));
            case RELU -> Math.max(0.0, x);
            case SQRT -> Math.sqrt(x);
            case ABS -> Math.abs(x);
            case RECIPROCAL -> 1.0 / x;
            case STEP -> x > 0 ? 1.0 : 0.0;
            case ERF -> erf(x);
        };
    }

    /** erf by Simpson's rule on 2/√π·∫₀ˣ e^(−t²) dt (4000 intervals: error far below float precision), not a fit. */
    public static double erf(double x) {
        int n = 4000;
        double h = x / n;
        double sum = 1 + Math.exp(-x * x);
        for (int i = 1; i < n; i++) {
            double t = i * h;
            sum += (i % 2 == 1 ? 4 : 2) * Math.exp(-t * t);
        }
        return 2 / Math.sqrt(Math.PI) * sum * h / 3;
    }

    /** Exact GELU, x·Φ(x). */
    public static double geluErf(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /** RMSNorm over rows of cols: x / √(mean(x²) + eps) · γ. */
    public static double[] rmsNorm(float[] x, float[] gamma, int rows, int cols, double eps) {
        double[] out = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double squares = 0;
            for (int c = 0; c < cols; c++) {
                squares += (double) x[r * cols + c] * x[r * cols + c];
            }
            double rstd = 1 / Math.sqrt(squares / cols + eps);
            for (int c = 0; c < cols; c++) {
                out[r * cols + c] = x[r * cols + c] * rstd * gamma[c];
            }
        }
        return out;
    }

    /**
     * Scaled-dot-product attention over (batch·heads, queries, d) and (batch·heads, keys, d): query i of batch row b
     * sees keys j < length_b, and with causal masking only j ≤ offset_b + i; a query that sees none outputs zeros.
     */
    public static double[] attention(float[] q, float[] k, float[] v, int batch, int heads, int queries, int keys,
                                     int d, double scale, boolean causal, int[] offsets, int[] lengths) {
        double[] out = new double[batch * heads * queries * d];
        for (int h = 0; h < batch * heads; h++) {
            int b = h / heads;
            for (int i = 0; i < queries; i++) {
                int visible = Math.max(0, causal ? Math.min(lengths[b], offsets[b] + i + 1) : lengths[b]);
                double[] scores = new double[visible];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    double s = 0;
                    for (int c = 0; c < d; c++) {
                        s += (double) q[(h * queries + i) * d + c] * k[(h * keys + j) * d + c];
                    }
                    scores[j] = s * scale;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j < visible; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j < visible; j++) {
                    for (int c = 0; c < d; c++) {
                        out[(h * queries + i) * d + c] += scores[j] / sum * v[(h * keys + j) * d + c];
                    }
                }
            }
        }
        return out;
    }

    public static double binary(BinaryOp op, double a, double b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case EQ -> a == b ? 1.0 : 0.0;
            case GT -> a > b ? 1.0 : 0.0;
        };
    }

    public static int numel(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** The NumPy broadcast of two shapes. */
    public static int[] broadcastShape(int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)] : 1;
            int db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)] : 1;
            out[i] = Math.max(da, db);
        }
        return out;
    }

    /** The flat index into a tensor of {@code shape} that broadcast position {@code index} of {@code out} reads. */
    public static int broadcastIndex(int index, int[] out, int[] shape) {
        int offset = out.length - shape.length;
        int result = 0;
        int stride = 1;
        int rest = index;
        int[] coordinate = new int[out.length];
        for (int d = out.length - 1; d >= 0; d--) {
            coordinate[d] = rest % out[d];
            rest /= out[d];
        }
        for (int d = shape.length - 1; d >= 0; d--) {
            int c = shape[d] == 1 ? 0 : coordinate[d + offset];
            result += c * stride;
            stride *= shape[d];
        }
        return result;
    }

    public static double[] binaryBroadcast(BinaryOp op, float[] a, int[] aShape, float[] b, int[] bShape) {
        int[] out = broadcastShape(aShape, bShape);
        double[] result = new double[numel(out)];
        for (int i = 0; i < result.length; i++) {
            result[i] = binary(op, a[broadcastIndex(i, out, aShape)], b[broadcastIndex(i, out, bShape)]);
        }
        return result;
    }

    /** Sum or max over axis {@code dim}. */
    public static double[] reduce(boolean max, float[] x, int[] shape, int dim) {
        int outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= shape[i];
        }
        int inner = 1;
        for (int i = dim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        int axis = shape[dim];
        double[] out = new double[outer * inner];
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < inner; j++) {
                double acc = max ? Double.NEGATIVE_INFINITY : 0.0;
                for (int a = 0; a < axis; a++) {
                    double v = x[(o * axis + a) * inner + j];
                    acc = max ? Math.max(acc, v) : acc + v;
                }
                out[o * inner + j] = acc;
            }
        }
        return out;
    }

    /** Batched C = A·B with A (batch, m, k), B (batch or 1, k, n). */
    public static double[] matmul(float[] a, float[] b, int batch, int m, int n, int k, boolean bShared) {
        double[] c = new double[batch * m * n];
        for (int bi = 0; bi < batch; bi++) {
            int bBase = bShared ? 0 : bi * k * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += (double) a[bi * m * k + i * k + p] * b[bBase + p * n + j];
                    }
                    c[bi * m * n + i * n + j] = s;
                }
            }
        }
        return c;
    }

    /** Each row's log Σ exp, computed stably (shifted by the row maximum). */
    public static double[] logSumExp(float[] x, int rows, int cols) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, x[r * cols + c]);
            }
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += Math.exp(x[r * cols + c] - max);
            }
            out[r] = max + Math.log(sum);
        }
        return out;
    }

    public static double[] softmax(float[] x, int rows, int cols, boolean log) {
        double[] lse = logSumExp(x, rows, cols);
        double[] out = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double logProbability = x[r * cols + c] - lse[r];
                out[r * cols + c] = log ? logProbability : Math.exp(logProbability);
            }
        }
        return out;
    }

    public static double[] layerNorm(float[] x, float[] gamma, float[] beta, int rows, int cols, double eps) {
        double[] out = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int c = 0; c < cols; c++) {
                mean += x[r * cols + c];
            }
            mean /= cols;
            double variance = 0;
            for (int c = 0; c < cols; c++) {
                double d = x[r * cols + c] - mean;
                variance += d * d;
            }
            variance /= cols;
            double rstd = 1.0 / Math.sqrt(variance + eps);
            for (int c = 0; c < cols; c++) {
                out[r * cols + c] = (x[r * cols + c] - mean) * rstd * gamma[c] + beta[c];
            }
        }
        return out;
    }

    /** Mean cross-entropy over rows whose target is not ignoreIndex. */
    public static double crossEntropy(float[] logits, int[] targets, int rows, int cols, int ignoreIndex) {
        double[] logProbabilities = softmax(logits, rows, cols, true);
        double total = 0;
        int count = 0;
        for (int r = 0; r < rows; r++) {
            if (targets[r] != ignoreIndex) {
                total -= logProbabilities[r * cols + targets[r]];
                count++;
            }
        }
        return total / count;
    }

    public static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /**
     * One torch.optim.Adam / AdamW step (PyTorch's formulas) on a copy of p; returns {p, m, v}.
     */
    public static double[][] adam(float[] p, float[] g, float[] m, float[] v, double lr, double beta1, double beta2,
                                  double eps, double weightDecay, boolean decoupled, int step) {
        int n = p.length;
        double[] np = new double[n];
        double[] nm = new double[n];
        double[] nv = new double[n];
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2 = 1 - Math.pow(beta2, step);
        for (int i = 0; i < n; i++) {
            double param = p[i];
            double grad = g[i];
            if (decoupled) {
                param *= 1 - lr * weightDecay;
            } else {
                grad += weightDecay * p[i];
            }
            nm[i] = beta1 * m[i] + (1 - beta1) * grad;
            nv[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
            double denom = Math.sqrt(nv[i]) / Math.sqrt(bc2) + eps;
            np[i] = param - lr / bc1 * nm[i] / denom;
        }
        return new double[][] {np, nm, nv};
    }
}
