package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.backend.Distribution;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/** Fill, random fill, strided copy with conversion, gather and scatter-add. */
final class MemoryKernels {
    private static final int GRAIN = 1 << 15;

    private final Parallel parallel;
    private final boolean vector;

    MemoryKernels(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
    }

    void fill(float[] x, int n, float value) {
        parallel.forRange(n, GRAIN, (start, end) -> Arrays.fill(x, start, end, value));
    }

    void randomFill(float[] x, int n, Distribution distribution, float a, float b, long seed) {
        parallel.forRange(n, GRAIN / 8, (start, end) -> {
            for (int i = start; i < end; i++) {
                x[i] = CounterRandom.sample(distribution, a, b, seed, i);
            }
        });
    }

    /** Copies a strided view; src and dst are float[] or int[] and are converted when they differ. */
    void copyStrided(Object src, int srcOffset, int[] shape, int[] srcStrides, Object dst, int dstOffset, int[] dstStrides) {
        int[][] merged = Strides.coalesce(shape, srcStrides, dstStrides);
        int[] dims = merged[0];
        int[] ss = merged[1];
        int[] ds = merged[2];
        int rank = dims.length;
        int inner = dims[rank - 1];
        int rows = 1;
        for (int d = 0; d < rank - 1; d++) {
            rows *= dims[d];
        }
        int rowGrain = Math.max(1, GRAIN / Math.max(1, inner));
        parallel.forRange(rows, rowGrain, (start, end) -> {
            for (int r = start; r < end; r++) {
                int s = srcOffset;
                int t = dstOffset;
                int rest = r;
                for (int d = rank - 2; d >= 0; d--) {
                    int index = rest % dims[d];
                    rest /= dims[d];
                    s += index * ss[d];
                    t += index * ds[d];
                }
                copyRun(src, s, ss[rank - 1], dst, t, ds[rank - 1], inner);
            }
        });
    }

    private static void copyRun(Object src, int s, int sStride, Object dst, int t, int tStride, int n) {
        if (src.getClass() == dst.getClass() && sStride == 1 && tStride == 1) {
            System.arraycopy(src, s, dst, t, n);
            return;
        }
        if (src instanceof float[] f && dst instanceof float[] g) {
            for (int i = 0; i < n; i++) {
                g[t + i * tStride] = f[s + i * sStride];
            }
        } else if (src instanceof int[] f && dst instanceof int[] g) {
            for (int i = 0; i < n; i++) {
                g[t + i * tStride] = f[s + i * sStride];
            }
        } else if (src instanceof int[] f && dst instanceof float[] g) {
            for (int i = 0; i < n; i++) {
                g[t + i * tStride] = f[s + i * sStride];
            }
        } else {
            float[] f = (float[]) src;
            int[] g = (int[]) dst;
            for (int i = 0; i < n; i++) {
                g[t + i * tStride] = (int) f[s + i * sStride];
            }
        }
    }

    void gather(float[] table, int columns, int[] indices, int count, float[] out) {
        parallel.forRange(count, Math.max(1, GRAIN / Math.max(1, columns)), (start, end) -> {
            for (int i = start; i < end; i++) {
                System.arraycopy(table, indices[i] * columns, out, i * columns, columns);
            }
        });
    }

    /** Split by column blocks, so that repeated indices never race. */
    void scatterAdd(float[] src, int columns, int[] indices, int count, float[] table) {
        int columnGrain = Math.max(LANES * 4, GRAIN / Math.max(1, count));
        parallel.forRange(columns, columnGrain, (from, to) -> {
            for (int i = 0; i < count; i++) {
                int s = i * columns;
                int t = indices[i] * columns;
                int j = from;
                if (vector) {
                    for (int bound = from + F.loopBound(to - from); j < bound; j += LANES) {
                        FloatVector.fromArray(F, table, t + j).add(FloatVector.fromArray(F, src, s + j))
                                .intoArray(table, t + j);
                    }
                }
                for (; j < to; j++) {
                    table[t + j] += src[s + j];
                }
            }
        });
    }
}
