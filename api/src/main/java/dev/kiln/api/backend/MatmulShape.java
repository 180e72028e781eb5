package dev.kiln.api.backend;

/**
 * The geometry of a batched matrix product {@code C[i] (m×n) = op(A[i]) (m×k) · op(B[i]) (k×n)}.
 *
 * <p>A is stored row-major as m×k, or as k×m when {@code transA}; B as k×n, or n×k when {@code transB}. Batches of A and B
 * start {@code aBatchStride} and {@code bBatchStride} elements apart (0 broadcasts one matrix over the batch); C is
 * dense, m·n apart. With {@code accumulate} the product is added to C instead of overwriting it.
 */
public record MatmulShape(int batch, int m, int n, int k, boolean transA, boolean transB,
                          int aBatchStride, int bBatchStride, boolean accumulate) {

    public MatmulShape {
        if (batch < 1 || m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("matmul: empty geometry batch=" + batch + " m=" + m + " n=" + n + " k=" + k);
        }
    }

    /** One plain m×k by k×n product. */
    public static MatmulShape of(int m, int n, int k) {
        return new MatmulShape(1, m, n, k, false, false, m * k, k * n, false);
    }

    public long flops() {
        return 2L * batch * m * n * k;
    }
}
