package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import jdk.incubator.vector.FloatVector;

/**
 * C += A·B for the small tiles of a blocked kernel (a 32 × 64 block of attention scores, a head of 24 or 64 floats),
 * too small for the packed GEMM to pay for its packing and hand-offs. A is read one element at a time through two
 * strides, so a transposed operand costs nothing; B and C are rows of n contiguous floats, n a multiple of
 * {@link Vectors#LANES} (callers pad). Four rows by two vectors of C stay in registers across the whole k loop, and each
 * element of C adds its k products in order, one FMA after another, whatever m and n are.
 */
final class TileProduct {
    private TileProduct() {
    }

    /**
     * c[i·ldc + j] += Σ_p a[i·aRowStride + p·aColStride] · b[p·ldb + j] for i < m, j < n, p < k (each array from its
     * offset).
     */
    static void multiplyAdd(int m, int n, int k,
                            float[] a, int aOff, int aRowStride, int aColStride,
                            float[] b, int bOff, int ldb,
                            float[] c, int cOff, int ldc) {
        if (n % LANES != 0) {
            throw new IllegalArgumentException("tile width " + n + " is not a multiple of " + LANES + " lanes");
        }
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            int a0 = aOff + i * aRowStride;
            int c0 = cOff + i * ldc;
            int j = 0;
            for (; j + 2 * LANES <= n; j += 2 * LANES) {
                fourRowsTwoVectors(k, a, a0, aRowStride, aColStride, b, bOff + j, ldb, c, c0 + j, ldc);
            }
            for (; j < n; j += LANES) {
                fourRowsOneVector(k, a, a0, aRowStride, aColStride, b, bOff + j, ldb, c, c0 + j, ldc);
            }
        }
        for (; i < m; i++) {
            int a0 = aOff + i * aRowStride;
            int c0 = cOff + i * ldc;
            int j = 0;
            for (; j + 2 * LANES <= n; j += 2 * LANES) {
                oneRowTwoVectors(k, a, a0, aColStride, b, bOff + j, ldb, c, c0 + j);
            }
            for (; j < n; j += LANES) {
                oneRowOneVector(k, a, a0, aColStride, b, bOff + j, ldb, c, c0 + j);
            }
        }
    }

    private static void fourRowsTwoVectors(int k, float[] a, int a0, int rs, int cs, float[] b, int b0, int ldb,
                                           float[] c, int c0, int ldc) {
        FloatVector c00 = FloatVector.fromArray(F, c, c0);
        FloatVector c01 = FloatVector.fromArray(F, c, c0 + LANES);
        FloatVector c10 = FloatVector.fromArray(F, c, c0 + ldc);
        FloatVector c11 = FloatVector.fromArray(F, c, c0 + ldc + LANES);
        FloatVector c20 = FloatVector.fromArray(F, c, c0 + 2 * ldc);
        FloatVector c21 = FloatVector.fromArray(F, c, c0 + 2 * ldc + LANES);
        FloatVector c30 = FloatVector.fromArray(F, c, c0 + 3 * ldc);
        FloatVector c31 = FloatVector.fromArray(F, c, c0 + 3 * ldc + LANES);
        for (int p = 0; p < k; p++) {
            int bp = b0 + p * ldb;
            FloatVector b0v = FloatVector.fromArray(F, b, bp);
            FloatVector b1v = FloatVector.fromArray(F, b, bp + LANES);
            int ap = a0 + p * cs;
            FloatVector x = FloatVector.broadcast(F, a[ap]);
            c00 = b0v.fma(x, c00);
            c01 = b1v.fma(x, c01);
            x = FloatVector.broadcast(F, a[ap + rs]);
            c10 = b0v.fma(x, c10);
            c11 = b1v.fma(x, c11);
            x = FloatVector.broadcast(F, a[ap + 2 * rs]);
            c20 = b0v.fma(x, c20);
            c21 = b1v.fma(x, c21);
            x = FloatVector.broadcast(F, a[ap + 3 * rs]);
            c30 = b0v.fma(x, c30);
            c31 = b1v.fma(x, c31);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + LANES);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + LANES);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + LANES);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + LANES);
    }

    private static void fourRowsOneVector(int k, float[] a, int a0, int rs, int cs, float[] b, int b0, int ldb,
                                          float[] c, int c0, int ldc) {
        FloatVector c0v = FloatVector.fromArray(F, c, c0);
        FloatVector c1v = FloatVector.fromArray(F, c, c0 + ldc);
        FloatVector c2v = FloatVector.fromArray(F, c, c0 + 2 * ldc);
        FloatVector c3v = FloatVector.fromArray(F, c, c0 + 3 * ldc);
        for (int p = 0; p < k; p++) {
            FloatVector bv = FloatVector.fromArray(F, b, b0 + p * ldb);
            int ap = a0 + p * cs;
            c0v = bv.fma(FloatVector.broadcast(F, a[ap]), c0v);
            c1v = bv.fma(FloatVector.broadcast(F, a[ap + rs]), c1v);
            c2v = bv.fma(FloatVector.broadcast(F, a[ap + 2 * rs]), c2v);
            c3v = bv.fma(FloatVector.broadcast(F, a[ap + 3 * rs]), c3v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + ldc);
        c2v.intoArray(c, c0 + 2 * ldc);
        c3v.intoArray(c, c0 + 3 * ldc);
    }

    private static void oneRowTwoVectors(int k, float[] a, int a0, int cs, float[] b, int b0, int ldb,
                                         float[] c, int c0) {
        FloatVector c0v = FloatVector.fromArray(F, c, c0);
        FloatVector c1v = FloatVector.fromArray(F, c, c0 + LANES);
        for (int p = 0; p < k; p++) {
            int bp = b0 + p * ldb;
            FloatVector x = FloatVector.broadcast(F, a[a0 + p * cs]);
            c0v = FloatVector.fromArray(F, b, bp).fma(x, c0v);
            c1v = FloatVector.fromArray(F, b, bp + LANES).fma(x, c1v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + LANES);
    }

    private static void oneRowOneVector(int k, float[] a, int a0, int cs, float[] b, int b0, int ldb,
                                        float[] c, int c0) {
        FloatVector cv = FloatVector.fromArray(F, c, c0);
        for (int p = 0; p < k; p++) {
            cv = FloatVector.fromArray(F, b, b0 + p * ldb).fma(FloatVector.broadcast(F, a[a0 + p * cs]), cv);
        }
        cv.intoArray(c, c0);
    }
}
