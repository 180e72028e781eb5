// Kiln's OpenCL kernels. Plain C99 kernels with one rule: every sum runs in one work-item in a fixed order, so a result
// never depends on scheduling and repeats bit for bit. No contraction of a*b+c into fma unless written (fma()), so that
// simple formulas round as Java's do.
#pragma OPENCL FP_CONTRACT OFF

#define MAX_RANK 8

// ------------------------------------------------------------------------------------------------ memory and fills

__kernel void fill_f(__global float* x, float value) {
    x[get_global_id(0)] = value;
}

__kernel void fill_i(__global int* x, int value) {
    x[get_global_id(0)] = value;
}

// CounterRandom.mix: SplitMix64's finaliser over (seed, index), identical to the Java definition.
ulong kiln_mix(ulong seed, ulong index) {
    ulong z = seed * 0x9E3779B97F4A7C15UL + (index + 1UL) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

__kernel void random_uniform(__global float* x, ulong seed, float a, float b) {
    size_t i = get_global_id(0);
    float u = (float) (kiln_mix(seed, (ulong) i) >> 40) * 0x1.0p-24f;
    x[i] = a + (b - a) * u;
}

// dst[dstOffset + Σ idx·dstStrides] = src[srcOffset + Σ idx·srcStrides] over a shape of up to MAX_RANK dimensions.
// One work-item per run of the last dimension: the index arithmetic happens once per run, not once per element.
#define COPY_STRIDED(NAME, S, D, CONVERT)                                                                              \
__kernel void NAME(__global const S* src, int srcOffset, __global D* dst, int dstOffset, int rank,                    \
                   int8 shape, int8 srcStrides, int8 dstStrides) {                                                     \
    int dims[MAX_RANK] = {shape.s0, shape.s1, shape.s2, shape.s3, shape.s4, shape.s5, shape.s6, shape.s7};            \
    int ss[MAX_RANK] = {srcStrides.s0, srcStrides.s1, srcStrides.s2, srcStrides.s3,                                    \
                        srcStrides.s4, srcStrides.s5, srcStrides.s6, srcStrides.s7};                                   \
    int ds[MAX_RANK] = {dstStrides.s0, dstStrides.s1, dstStrides.s2, dstStrides.s3,                                    \
                        dstStrides.s4, dstStrides.s5, dstStrides.s6, dstStrides.s7};                                   \
    int rest = (int) get_global_id(0);                                                                                  \
    int s = srcOffset;                                                                                                 \
    int d = dstOffset;                                                                                                 \
    for (int axis = rank - 2; axis >= 0; axis--) {                                                                     \
        int index = rest % dims[axis];                                                                                 \
        rest /= dims[axis];                                                                                            \
        s += index * ss[axis];                                                                                         \
        d += index * ds[axis];                                                                                         \
    }                                                                                                                  \
    int n = rank > 0 ? dims[rank - 1] : 1;                                                                             \
    int sStep = rank > 0 ? ss[rank - 1] : 0;                                                                           \
    int dStep = rank > 0 ? ds[rank - 1] : 0;                                                                           \
    if (sStep == 1 && dStep == 1) {                                                                                    \
        for (int i = 0; i < n; i++) {                                                                                  \
            dst[d + i] = CONVERT(src[s + i]);                                                                          \
        }                                                                                                              \
    } else {                                                                                                           \
        for (int i = 0; i < n; i++) {                                                                                  \
            dst[d + i * dStep] = CONVERT(src[s + i * sStep]);                                                          \
        }                                                                                                              \
    }                                                                                                                  \
}

#define SAME(x) (x)
COPY_STRIDED(copy_strided_ff, float, float, SAME)
COPY_STRIDED(copy_strided_ii, int, int, SAME)
COPY_STRIDED(copy_strided_fi, float, int, convert_int_sat_rtz)
COPY_STRIDED(copy_strided_if, int, float, convert_float)

// ------------------------------------------------------------------------------------------------ elementwise

// UnaryOp codes (the backend maps each Java constant to one of these).
#define U_NEG 0
#define U_EXP 1
#define U_LOG 2
#define U_TANH 3
#define U_SIGMOID 4
#define U_RELU 5
#define U_SQRT 6
#define U_ABS 7
#define U_RECIPROCAL 8
#define U_STEP 9
#define U_ERF 10

__kernel void unary(__global const float* x, __global float* out, int op) {
    size_t i = get_global_id(0);
    float v = x[i];
    float r;
    switch (op) {
        case U_NEG: r = -v; break;
        case U_EXP: r = exp(v); break;
        case U_LOG: r = log(v); break;
        case U_TANH: r = tanh(v); break;
        case U_SIGMOID: r = 1.0f / (1.0f + exp(-v)); break;
        case U_RELU: r = v > 0.0f ? v : 0.0f; break;
        case U_SQRT: r = sqrt(v); break;
        case U_ABS: r = fabs(v); break;
        case U_RECIPROCAL: r = 1.0f / v; break;
        case U_ERF: r = erf(v); break;
        default: r = v > 0.0f ? 1.0f : 0.0f; break;
    }
    out[i] = r;
}

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_POW 4
#define B_MAX 5
#define B_MIN 6
#define B_EQ 7
#define B_GT 8

float kiln_binary(int op, float a, float b) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_POW: return pow(a, b);
        case B_MAX: return isnan(a) || isnan(b) ? NAN : fmax(a, b);
        case B_MIN: return isnan(a) || isnan(b) ? NAN : fmin(a, b);
        case B_EQ: return a == b ? 1.0f : 0.0f;
        default: return a > b ? 1.0f : 0.0f;
    }
}

// out[idx] = op(a[Σ idx·aStrides], b[Σ idx·bStrides]) over a dense shape; a zero stride broadcasts. One work-item per
// run of the last dimension.
__kernel void binary(__global const float* a, __global const float* b, __global float* out, int op, int rank,
                     int8 shape, int8 aStrides, int8 bStrides) {
    int dims[MAX_RANK] = {shape.s0, shape.s1, shape.s2, shape.s3, shape.s4, shape.s5, shape.s6, shape.s7};
    int as[MAX_RANK] = {aStrides.s0, aStrides.s1, aStrides.s2, aStrides.s3,
                        aStrides.s4, aStrides.s5, aStrides.s6, aStrides.s7};
    int bs[MAX_RANK] = {bStrides.s0, bStrides.s1, bStrides.s2, bStrides.s3,
                        bStrides.s4, bStrides.s5, bStrides.s6, bStrides.s7};
    int n = rank > 0 ? dims[rank - 1] : 1;
    int run = (int) get_global_id(0);
    int rest = run;
    int ai = 0;
    int bi = 0;
    for (int axis = rank - 2; axis >= 0; axis--) {
        int index = rest % dims[axis];
        rest /= dims[axis];
        ai += index * as[axis];
        bi += index * bs[axis];
    }
    int aStep = rank > 0 ? as[rank - 1] : 0;
    int bStep = rank > 0 ? bs[rank - 1] : 0;
    __global float* o = out + (size_t) run * n;
    if (aStep == 1 && bStep == 1) {
        for (int i = 0; i < n; i++) {
            o[i] = kiln_binary(op, a[ai + i], b[bi + i]);
        }
    } else {
        for (int i = 0; i < n; i++) {
            o[i] = kiln_binary(op, a[ai + i * aStep], b[bi + i * bStep]);
        }
    }
}

// x viewed as (outer, axis, inner); out (outer, inner). op 0: sum, 1: max.
__kernel void reduce(__global const float* x, __global float* out, int op, int axis, int inner) {
    int o = (int) get_global_id(0) / inner;
    int j = (int) get_global_id(0) % inner;
    __global const float* row = x + (size_t) o * axis * inner + j;
    float acc = op == 0 ? 0.0f : -INFINITY;
    for (int a = 0; a < axis; a++) {
        float v = row[(size_t) a * inner];
        acc = op == 0 ? acc + v : (isnan(v) || isnan(acc) ? NAN : fmax(acc, v));
    }
    out[get_global_id(0)] = acc;
}

// ------------------------------------------------------------------------------------------------ matmul

// C[batch] (M×N) = op(A) (M×K) · op(B) (K×N), 64×64 tiles staged in local memory, each of the 16×16 work-items
// accumulating a 4×4 block of C in registers.
#define TS 64
#define TK 16
#define WPT 4
#define RTS 16

__kernel __attribute__((reqd_work_group_size(RTS, RTS, 1)))
void matmul(__global const float* A, __global const float* B, __global float* C, int M, int N, int K, int transA,
            int transB, int aBatchStride, int bBatchStride, int accumulate) {
    size_t batch = get_global_id(2);
    A += batch * (size_t) aBatchStride;
    B += batch * (size_t) bBatchStride;
    C += batch * (size_t) M * N;
    int tx = (int) get_local_id(0);
    int ty = (int) get_local_id(1);
    int row0 = (int) get_group_id(1) * TS;
    int col0 = (int) get_group_id(0) * TS;
    __local float As[TK][TS];
    __local float Bs[TK][TS];
    float acc[WPT][WPT];
    for (int i = 0; i < WPT; i++) {
        for (int j = 0; j < WPT; j++) {
            acc[i][j] = 0.0f;
        }
    }
    int flat = ty * RTS + tx;
    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int l = flat; l < TS * TK; l += RTS * RTS) {
            // A: consecutive items walk k when A is row-major, rows when it is transposed (coalesced reads)
            int r = transA ? l % TS : l / TK;
            int kk = transA ? l / TS : l % TK;
            int gr = row0 + r;
            int gk = k0 + kk;
            As[kk][r] = (gr < M && gk < K) ? (transA ? A[(size_t) gk * M + gr] : A[(size_t) gr * K + gk]) : 0.0f;
            int c = transB ? l / TK : l % TS;
            int kb = transB ? l % TK : l / TS;
            int gc = col0 + c;
            int gkb = k0 + kb;
            Bs[kb][c] = (gc < N && gkb < K) ? (transB ? B[(size_t) gc * K + gkb] : B[(size_t) gkb * N + gc]) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; kk++) {
            float a[WPT];
            float b[WPT];
            for (int w = 0; w < WPT; w++) {
                a[w] = As[kk][ty + w * RTS];
                b[w] = Bs[kk][tx + w * RTS];
            }
            for (int i = 0; i < WPT; i++) {
                for (int j = 0; j < WPT; j++) {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WPT; i++) {
        int r = row0 + ty + i * RTS;
        for (int j = 0; j < WPT; j++) {
            int c = col0 + tx + j * RTS;
            if (r < M && c < N) {
                size_t at = (size_t) r * N + c;
                C[at] = accumulate ? C[at] + acc[i][j] : acc[i][j];
            }
        }
    }
}

// CPU devices (PoCL): B is first packed into panels of 16 columns, each panel's K rows of 16 floats contiguous (read in
// place, a panel's rows lie a row of B apart: at N = 1024 that is 4 KB, so they all fall into one set of the L1 cache
// and evict each other). Each work-item then computes a strip of ROW_TILES blocks of 4×16 down one panel, with
// explicit vectors and no barriers, K_BLOCK values of k at a time so that the panel's slice stays in L1 for the whole
// strip while only four rows of A stream in per block. A transposed A is copied row-major by the host first. Edge
// blocks take a scalar path with the same per-element arithmetic (one fma chain over k in order), so every element
// rounds the same way.
#define PANEL 16
#define ROW_TILES 8
#define K_BLOCK 256

// B (K×N, or N×K when transB) into panels: element (k, j) at [(j / PANEL) · K · PANEL + k · PANEL + j % PANEL]; columns
// past N are zeros. One work-item per (panel, k).
__kernel void pack_b_panels(__global const float* B, int K, int N, int transB, int bBatchStride, __global float* out) {
    size_t batch = get_global_id(2);
    int panel = (int) get_global_id(0);
    int k = (int) get_global_id(1);
    int panels = (N + PANEL - 1) / PANEL;
    B += batch * (size_t) bBatchStride;
    __global float* dst = out + batch * (size_t) panels * K * PANEL + ((size_t) panel * K + k) * PANEL;
    int c0 = panel * PANEL;
    if (!transB && c0 + PANEL <= N) {
        __global const float* src = B + (size_t) k * N + c0;
        vstore8(vload8(0, src), 0, dst);
        vstore8(vload8(1, src), 1, dst);
        return;
    }
    for (int j = 0; j < PANEL; j++) {
        int col = c0 + j;
        dst[j] = col >= N ? 0.0f : transB ? B[(size_t) col * K + k] : B[(size_t) k * N + col];
    }
}

void matmul_block4x16(__global const float* A, __global const float* panel, __global float* C, int N, int K, int r0,
                      int c0, int k0, int k1, int accumulate) {
    // 16 columns as two float8 halves: the width of an AVX2 register, which PoCL's usual CPU target has
    __global const float* a0 = A + (size_t) r0 * K;
    __global const float* a1 = a0 + K;
    __global const float* a2 = a1 + K;
    __global const float* a3 = a2 + K;
    __global float* c = C + (size_t) r0 * N + c0;
    float8 acc0l = (float8) 0.0f, acc0h = (float8) 0.0f;
    float8 acc1l = (float8) 0.0f, acc1h = (float8) 0.0f;
    float8 acc2l = (float8) 0.0f, acc2h = (float8) 0.0f;
    float8 acc3l = (float8) 0.0f, acc3h = (float8) 0.0f;
    if (k0 > 0) {
        // resume the chains from the sums stored after the previous block of k: a float stored and loaded is exact
        acc0l = vload8(0, c);
        acc0h = vload8(1, c);
        acc1l = vload8(0, c + N);
        acc1h = vload8(1, c + N);
        acc2l = vload8(0, c + 2 * N);
        acc2h = vload8(1, c + 2 * N);
        acc3l = vload8(0, c + 3 * N);
        acc3h = vload8(1, c + 3 * N);
    }
    for (int k = k0; k < k1; k++) {
        __global const float* row = panel + (size_t) k * PANEL;
        float8 bl = vload8(0, row);
        float8 bh = vload8(1, row);
        float8 x0 = (float8) a0[k];
        float8 x1 = (float8) a1[k];
        float8 x2 = (float8) a2[k];
        float8 x3 = (float8) a3[k];
        acc0l = fma(x0, bl, acc0l);
        acc0h = fma(x0, bh, acc0h);
        acc1l = fma(x1, bl, acc1l);
        acc1h = fma(x1, bh, acc1h);
        acc2l = fma(x2, bl, acc2l);
        acc2h = fma(x2, bh, acc2h);
        acc3l = fma(x3, bl, acc3l);
        acc3h = fma(x3, bh, acc3h);
    }
    if (accumulate) {
        acc0l += vload8(0, c);
        acc0h += vload8(1, c);
        acc1l += vload8(0, c + N);
        acc1h += vload8(1, c + N);
        acc2l += vload8(0, c + 2 * N);
        acc2h += vload8(1, c + 2 * N);
        acc3l += vload8(0, c + 3 * N);
        acc3h += vload8(1, c + 3 * N);
    }
    vstore8(acc0l, 0, c);
    vstore8(acc0h, 1, c);
    vstore8(acc1l, 0, c + N);
    vstore8(acc1h, 1, c + N);
    vstore8(acc2l, 0, c + 2 * N);
    vstore8(acc2h, 1, c + 2 * N);
    vstore8(acc3l, 0, c + 3 * N);
    vstore8(acc3h, 1, c + 3 * N);
}

// C[batch] (M×N) (+)= A (M×K, row-major) · B, with B packed by pack_b_panels (bBatchStride: between packed batches).
__kernel void matmul_rows(__global const float* A, __global const float* packedB, __global float* C, int M, int N, int K,
                          int aBatchStride, int bBatchStride, int accumulate) {
    size_t batch = get_global_id(2);
    A += batch * (size_t) aBatchStride;
    C += batch * (size_t) M * N;
    int c0 = (int) get_global_id(0) * PANEL;
    __global const float* panel = packedB + batch * (size_t) bBatchStride + (size_t) get_global_id(0) * K * PANEL;
    int strip = (int) get_global_id(1) * 4 * ROW_TILES;
    int stripEnd = min(strip + 4 * ROW_TILES, M);
    int r0 = strip;
    if (c0 + PANEL <= N) {
        // with accumulate the partial sums have nowhere to wait but C, which still holds the addend: k in one block
        int kBlock = accumulate ? K : K_BLOCK;
        int fullEnd = strip + (stripEnd - strip) / 4 * 4;
        for (int k0 = 0; k0 < K; k0 += kBlock) {
            int k1 = min(K, k0 + kBlock);
            for (int r = strip; r < fullEnd; r += 4) {
                matmul_block4x16(A, panel, C, N, K, r, c0, k0, k1, accumulate);
            }
        }
        r0 = fullEnd;
    }
    for (int r = r0; r < stripEnd; r++) {
        for (int col = c0; col < min(c0 + PANEL, N); col++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                s = fma(A[(size_t) r * K + k], panel[(size_t) k * PANEL + col - c0], s);
            }
            size_t at = (size_t) r * N + col;
            C[at] = accumulate ? C[at] + s : s;
        }
    }
}

// ------------------------------------------------------------------------------------------------ embedding

__kernel void gather(__global const float* table, int columns, __global const int* indices, __global float* out) {
    size_t i = get_global_id(0);
    size_t row = i / columns;
    size_t c = i % columns;
    out[i] = table[(size_t) indices[row] * columns + c];
}

// One work-item per column walks the rows in order: repeated indices accumulate deterministically, without atomics.
__kernel void scatter_add(__global const float* src, int columns, __global const int* indices, int rows,
                          __global float* table) {
    int c = (int) get_global_id(0);
    for (int r = 0; r < rows; r++) {
        table[(size_t) indices[r] * columns + c] += src[(size_t) r * columns + c];
    }
}

// ------------------------------------------------------------------------------------------------ softmax family

__kernel void softmax(__global const float* x, __global float* out, int cols, int logarithm) {
    size_t o = get_global_id(0) * (size_t) cols;
    float max = -INFINITY;
    for (int i = 0; i < cols; i++) {
        max = fmax(max, x[o + i]);
    }
    float sum = 0.0f;
    for (int i = 0; i < cols; i++) {
        sum += exp(x[o + i] - max);
    }
    if (logarithm) {
        float logSum = log(sum);
        for (int i = 0; i < cols; i++) {
            out[o + i] = x[o + i] - max - logSum;
        }
    } else {
        for (int i = 0; i < cols; i++) {
            out[o + i] = exp(x[o + i] - max) / sum;
        }
    }
}

// softmax: dx = y ⊙ (dy − Σ dy ⊙ y); log-softmax: dx = dy − exp(y) Σ dy.
__kernel void softmax_backward(__global const float* y, __global const float* dy, __global float* dx, int cols,
                               int logarithm) {
    size_t o = get_global_id(0) * (size_t) cols;
    float s = 0.0f;
    for (int i = 0; i < cols; i++) {
        s += logarithm ? dy[o + i] : dy[o + i] * y[o + i];
    }
    for (int i = 0; i < cols; i++) {
        dx[o + i] = logarithm ? dy[o + i] - exp(y[o + i]) * s : y[o + i] * (dy[o + i] - s);
    }
}

__kernel void cross_entropy(__global const float* logits, __global const int* targets, __global float* rowLoss,
                            __global float* rowLse, int cols, int ignoreIndex) {
    size_t r = get_global_id(0);
    size_t o = r * (size_t) cols;
    float max = -INFINITY;
    float sum = 0.0f;
    if ((cols & 7) == 0) {
        // eight lanes of partial maxima and sums, combined in one fixed order: a single chain over a vocabulary-long
        // row runs at one operation's latency per logit
        float8 m8 = (float8) (-INFINITY);
        for (int i = 0; i < cols; i += 8) {
            m8 = fmax(m8, vload8(0, logits + o + i));
        }
        max = fmax(fmax(fmax(m8.s0, m8.s1), fmax(m8.s2, m8.s3)), fmax(fmax(m8.s4, m8.s5), fmax(m8.s6, m8.s7)));
        float8 s8 = (float8) 0.0f;
        for (int i = 0; i < cols; i += 8) {
            s8 += exp(vload8(0, logits + o + i) - max);
        }
        sum = ((s8.s0 + s8.s1) + (s8.s2 + s8.s3)) + ((s8.s4 + s8.s5) + (s8.s6 + s8.s7));
    } else {
        for (int i = 0; i < cols; i++) {
            max = fmax(max, logits[o + i]);
        }
        for (int i = 0; i < cols; i++) {
            sum += exp(logits[o + i] - max);
        }
    }
    float lse = max + log(sum);
    int target = targets[r];
    rowLse[r] = lse;
    rowLoss[r] = target == ignoreIndex ? 0.0f : lse - logits[o + target];
}

__kernel void cross_entropy_backward(__global const float* logits, __global const int* targets,
                                     __global const float* rowLse, __global float* dlogits, float scale, int cols,
                                     int ignoreIndex) {
    size_t i = get_global_id(0);
    size_t r = i / cols;
    int c = (int) (i % cols);
    int target = targets[r];
    if (target == ignoreIndex) {
        dlogits[i] = 0.0f;
    } else {
        float p = exp(logits[i] - rowLse[r]);
        dlogits[i] = (c == target ? p - 1.0f : p) * scale;
    }
}

// ------------------------------------------------------------------------------------------------ layer norm

__kernel void layer_norm(__global const float* x, __global const float* gamma, __global const float* beta,
                         __global float* out, __global float* mean, __global float* rstd, int cols, float eps) {
    size_t r = get_global_id(0);
    size_t o = r * (size_t) cols;
    float sum = 0.0f;
    for (int i = 0; i < cols; i++) {
        sum += x[o + i];
    }
    float mu = sum / cols;
    float variance = 0.0f;
    for (int i = 0; i < cols; i++) {
        float d = x[o + i] - mu;
        variance += d * d;
    }
    float rs = 1.0f / sqrt(variance / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (int i = 0; i < cols; i++) {
        out[o + i] = (x[o + i] - mu) * rs * gamma[i] + beta[i];
    }
}

// dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)) with g = dy ⊙ γ; one work-item per row.
__kernel void layer_norm_backward_input(__global const float* x, __global const float* gamma,
                                        __global const float* mean, __global const float* rstd,
                                        __global const float* dy, __global float* dx, int cols) {
    size_t r = get_global_id(0);
    size_t o = r * (size_t) cols;
    float mu = mean[r];
    float rs = rstd[r];
    float a = 0.0f;
    float b = 0.0f;
    for (int i = 0; i < cols; i++) {
        float g = dy[o + i] * gamma[i];
        a += g;
        b += g * ((x[o + i] - mu) * rs);
    }
    a /= cols;
    b /= cols;
    for (int i = 0; i < cols; i++) {
        float xhat = (x[o + i] - mu) * rs;
        dx[o + i] = rs * (dy[o + i] * gamma[i] - a - xhat * b);
    }
}

// dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy; one work-item per column.
__kernel void layer_norm_backward_params(__global const float* x, __global const float* mean,
                                         __global const float* rstd, __global const float* dy, __global float* dgamma,
                                         __global float* dbeta, int rows, int cols) {
    int c = (int) get_global_id(0);
    float dg = 0.0f;
    float db = 0.0f;
    for (int r = 0; r < rows; r++) {
        size_t at = (size_t) r * cols + c;
        dg += dy[at] * ((x[at] - mean[r]) * rstd[r]);
        db += dy[at];
    }
    dgamma[c] = dg;
    dbeta[c] = db;
}

// ------------------------------------------------------------------------------------------------ GELU (tanh form)

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f

// tanh from exp, which CPU runtimes vectorize (their tanh is a scalar libm call): an odd polynomial below |x| = 0.625,
// 1 − 2/(e^{2|x|} + 1) with x's sign above; within a few ulps of tanh.
float kiln_tanh(float x) {
    float ax = fabs(x);
    if (ax < 0.625f) {
        float z = x * x;
        float p = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                + 1.33314422036e-1f) * z - 3.33332819422e-1f);
        return fma(p * z, x, x);
    }
    float t = 1.0f - 2.0f / (exp(ax + ax) + 1.0f);
    return x < 0.0f ? -t : t;
}

__kernel void gelu(__global const float* x, __global float* out) {
    size_t i = get_global_id(0);
    float v = x[i];
    float t = kiln_tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
    out[i] = 0.5f * v * (1.0f + t);
}

__kernel void gelu_backward(__global const float* x, __global const float* dy, __global float* dx) {
    size_t i = get_global_id(0);
    float v = x[i];
    float t = kiln_tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
    float inner = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * inner);
}

// Exact GELU: x·Φ(x), Φ(x) = ½(1 + erf(x/√2)); the derivative is Φ(x) + x·φ(x).
__kernel void gelu_erf(__global const float* x, __global float* out) {
    size_t i = get_global_id(0);
    float v = x[i];
    out[i] = v * (0.5f * (1.0f + erf(v * M_SQRT1_2_F)));
}

__kernel void gelu_erf_backward(__global const float* x, __global const float* dy, __global float* dx) {
    size_t i = get_global_id(0);
    float v = x[i];
    float cdf = 0.5f * (1.0f + erf(v * M_SQRT1_2_F));
    float density = exp(-0.5f * v * v) * (0.5f * M_2_SQRTPI_F * M_SQRT1_2_F);
    dx[i] = dy[i] * (cdf + v * density);
}

// ------------------------------------------------------------------------------------------------ Adam / AdamW

// PyTorch's arithmetic, with the constants rounded on the host as PyTorch rounds its Python floats.
__kernel void adam(__global float* p, __global const float* g, __global float* m, __global float* v, float b1,
                   float b2, float oneMinusB1, float oneMinusB2, float decayFactor, float l2, float stepSize,
                   float bc2Sqrt, float eps) {
    size_t i = get_global_id(0);
    float gi = l2 != 0.0f ? g[i] + l2 * p[i] : g[i];
    float mi = m[i] * b1 + gi * oneMinusB1;
    float vi = v[i] * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrt(vi) / bc2Sqrt + eps;
    p[i] = p[i] * decayFactor - mi / denom * stepSize;
}

// ------------------------------------------------------------------------------------------------ causal attention

#define MAX_HEAD 128

// x·y over d values: eight partial sums in a float8 when d is a multiple of 8, added up in one fixed order; a single
// chain otherwise. One chain of d dependent fmas leaves a CPU core waiting on each add's latency, and these dot products
// are most of what the attention kernels compute.
float kiln_dot(__global const float* x, __global const float* y, int d) {
    if ((d & 7) == 0) {
        float8 acc = (float8) 0.0f;
        for (int c = 0; c < d; c += 8) {
            acc = fma(vload8(0, x + c), vload8(0, y + c), acc);
        }
        return ((acc.s0 + acc.s1) + (acc.s2 + acc.s3)) + ((acc.s4 + acc.s5) + (acc.s6 + acc.s7));
    }
    float s = 0.0f;
    for (int c = 0; c < d; c++) {
        s += x[c] * y[c];
    }
    return s;
}

// How many keys (a prefix) query i of batch row b sees: its key length, and with causal masking the keys up to its
// position offset_b + i. See AttentionShape.
int kiln_visible_keys(__global const int* offsets, __global const int* lengths, int b, int i, int causal) {
    int limit = lengths[b];
    if (causal) {
        limit = min(limit, offsets[b] + i + 1);
    }
    return max(limit, 0);
}

// One work-item per (batch·head, query row): an online softmax over the keys the row sees, one key at a time, so no
// row of scores is ever held (flash-attention's idea at work-item granularity). Each work-item keeps a head-sized
// accumulator in private memory; the host launches these kernels in small work-groups, since a CPU runtime (PoCL)
// holds a whole work-group's private arrays on one thread's stack. A row that sees no key writes zeros and lse −∞.
__kernel void attention(__global const float* q, __global const float* k, __global const float* v,
                        __global float* out, __global float* lse, __global const int* offsets,
                        __global const int* lengths, int heads, int tq, int tk, int d, float scale, int causal) {
    size_t row = get_global_id(0);
    int i = (int) (row % tq);
    int head = (int) (row / tq);
    int visible = kiln_visible_keys(offsets, lengths, head / heads, i, causal);
    size_t base = (size_t) head * tk * d;
    __global const float* qi = q + row * d;
    float acc[MAX_HEAD];
    for (int c = 0; c < d; c++) {
        acc[c] = 0.0f;
    }
    float runningMax = -INFINITY;
    float runningSum = 0.0f;
    for (int j = 0; j < visible; j++) {
        __global const float* kj = k + base + (size_t) j * d;
        float s = kiln_dot(qi, kj, d) * scale;
        float newMax = fmax(runningMax, s);
        float correction = exp(runningMax - newMax);
        float p = exp(s - newMax);
        runningSum = runningSum * correction + p;
        __global const float* vj = v + base + (size_t) j * d;
        for (int c = 0; c < d; c++) {
            acc[c] = acc[c] * correction + p * vj[c];
        }
        runningMax = newMax;
    }
    for (int c = 0; c < d; c++) {
        out[row * d + c] = visible > 0 ? acc[c] / runningSum : 0.0f;
    }
    lse[row] = visible > 0 ? runningMax + log(runningSum) : -INFINITY;
}

// D_i = Σ_c dout_ic · out_ic, the row term of the softmax backward.
__kernel void attention_row_dot(__global const float* out, __global const float* dout, __global float* dterm, int d) {
    size_t row = get_global_id(0);
    dterm[row] = kiln_dot(dout + row * d, out + row * d, d);
}

// For one (query i, key j) pair: p = exp(q_i·k_j·scale − lse_i) and ds = p (dout_i·v_j − D_i) · scale.
float2 kiln_backward_terms(__global const float* qi, __global const float* kj, __global const float* doi,
                           __global const float* vj, float lse, float dterm, int d, float scale) {
    float s = kiln_dot(qi, kj, d);
    float dp = kiln_dot(doi, vj, d);
    float p = exp(s * scale - lse);
    return (float2) (p, p * (dp - dterm) * scale);
}

// dq_i = scale · Σ_{j visible} p_ij (dout_i·v_j − D_i) k_j; one work-item per query row.
__kernel void attention_backward_query(__global const float* q, __global const float* k, __global const float* v,
                                       __global const float* lse, __global const float* dout,
                                       __global const float* dterm, __global float* dq, __global const int* offsets,
                                       __global const int* lengths, int heads, int tq, int tk, int d, float scale,
                                       int causal) {
    size_t row = get_global_id(0);
    int i = (int) (row % tq);
    int head = (int) (row / tq);
    int visible = kiln_visible_keys(offsets, lengths, head / heads, i, causal);
    size_t base = (size_t) head * tk * d;
    __global const float* qi = q + row * d;
    __global const float* doi = dout + row * d;
    float acc[MAX_HEAD];
    for (int c = 0; c < d; c++) {
        acc[c] = 0.0f;
    }
    for (int j = 0; j < visible; j++) {
        __global const float* kj = k + base + (size_t) j * d;
        __global const float* vj = v + base + (size_t) j * d;
        float2 terms = kiln_backward_terms(qi, kj, doi, vj, lse[row], dterm[row], d, scale);
        float ds = terms.y;
        for (int c = 0; c < d; c++) {
            acc[c] += ds * kj[c];
        }
    }
    for (int c = 0; c < d; c++) {
        dq[row * d + c] = acc[c];
    }
}

// dk_j = scale · Σ_{i seeing j} p_ij (dout_i·v_j − D_i) q_i and dv_j = Σ_{i seeing j} p_ij dout_i; one work-item per
// key row. The queries that see key j are a suffix: from the first one whose causal position reaches j, and none when
// j lies past the row's key length.
__kernel void attention_backward_key(__global const float* q, __global const float* k, __global const float* v,
                                     __global const float* lse, __global const float* dout,
                                     __global const float* dterm, __global float* dk, __global float* dv,
                                     __global const int* offsets, __global const int* lengths, int heads, int tq,
                                     int tk, int d, float scale, int causal) {
    size_t keyRow = get_global_id(0);
    int j = (int) (keyRow % tk);
    int head = (int) (keyRow / tk);
    int b = head / heads;
    int first = j >= lengths[b] ? tq : (causal ? min(tq, max(0, j - offsets[b])) : 0);
    size_t queryBase = (size_t) head * tq;
    __global const float* kj = k + keyRow * d;
    __global const float* vj = v + keyRow * d;
    float dkAcc[MAX_HEAD];
    float dvAcc[MAX_HEAD];
    for (int c = 0; c < d; c++) {
        dkAcc[c] = 0.0f;
        dvAcc[c] = 0.0f;
    }
    for (int i = first; i < tq; i++) {
        size_t row = queryBase + i;
        __global const float* qi = q + row * d;
        __global const float* doi = dout + row * d;
        float2 terms = kiln_backward_terms(qi, kj, doi, vj, lse[row], dterm[row], d, scale);
        float p = terms.x;
        float ds = terms.y;
        for (int c = 0; c < d; c++) {
            dvAcc[c] += p * doi[c];
            dkAcc[c] += ds * qi[c];
        }
    }
    for (int c = 0; c < d; c++) {
        dk[keyRow * d + c] = dkAcc[c];
        dv[keyRow * d + c] = dvAcc[c];
    }
}

// ------------------------------------------------------------------------------------------------ LSTM cell

float kiln_sigmoid(float x) {
    return 1.0f / (1.0f + exp(-x));
}

// Gates (batch, 4·hidden) in PyTorch's order i, f, g, o; one work-item per (batch, unit).
__kernel void lstm_cell(__global const float* gates, __global const float* cPrev, __global float* h, __global float* c,
                        __global float* act, int hidden) {
    size_t at = get_global_id(0);
    size_t r = at / hidden;
    size_t j = at % hidden;
    size_t g0 = r * 4 * hidden;
    float i = kiln_sigmoid(gates[g0 + j]);
    float f = kiln_sigmoid(gates[g0 + hidden + j]);
    float g = kiln_tanh(gates[g0 + 2 * hidden + j]);
    float o = kiln_sigmoid(gates[g0 + 3 * hidden + j]);
    act[g0 + j] = i;
    act[g0 + hidden + j] = f;
    act[g0 + 2 * hidden + j] = g;
    act[g0 + 3 * hidden + j] = o;
    float ci = f * cPrev[at] + i * g;
    c[at] = ci;
    h[at] = o * kiln_tanh(ci);
}

__kernel void lstm_cell_backward(__global const float* act, __global const float* cPrev, __global const float* c,
                                 __global const float* dh, __global const float* dc, __global float* dGates,
                                 __global float* dCPrev, int hidden) {
    size_t at = get_global_id(0);
    size_t r = at / hidden;
    size_t j = at % hidden;
    size_t g0 = r * 4 * hidden;
    float i = act[g0 + j];
    float f = act[g0 + hidden + j];
    float g = act[g0 + 2 * hidden + j];
    float o = act[g0 + 3 * hidden + j];
    float tc = kiln_tanh(c[at]);
    float dcTotal = dc[at] + dh[at] * o * (1.0f - tc * tc);
    dGates[g0 + j] = dcTotal * g * i * (1.0f - i);
    dGates[g0 + hidden + j] = dcTotal * cPrev[at] * f * (1.0f - f);
    dGates[g0 + 2 * hidden + j] = dcTotal * i * (1.0f - g * g);
    dGates[g0 + 3 * hidden + j] = dh[at] * tc * o * (1.0f - o);
    dCPrev[at] = dcTotal * f;
}
