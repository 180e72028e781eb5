package dev.kiln.backend.cpu;

/** Stride arithmetic for the strided kernels. */
final class Strides {
    private Strides() {
    }

    /**
     * Drops size-1 dimensions and merges neighbours that are contiguous for every operand, so that loops run over as
     * few, as long dimensions as possible. Returns {shape, strides of operand 0, strides of operand 1, ...}; a rank-0
     * shape becomes [1].
     */
    static int[][] coalesce(int[] shape, int[]... strides) {
        int rank = shape.length;
        int[] outShape = new int[Math.max(1, rank)];
        int[][] outStrides = new int[strides.length][Math.max(1, rank)];
        int r = 0;
        for (int d = 0; d < rank; d++) {
            if (shape[d] == 1) {
                continue;
            }
            if (r > 0 && mergeable(outShape, outStrides, strides, r - 1, d, shape)) {
                outShape[r - 1] *= shape[d];
                for (int s = 0; s < strides.length; s++) {
                    outStrides[s][r - 1] = strides[s][d];
                }
                continue;
            }
            outShape[r] = shape[d];
            for (int s = 0; s < strides.length; s++) {
                outStrides[s][r] = strides[s][d];
            }
            r++;
        }
        if (r == 0) {
            outShape[0] = 1;
            r = 1;
        }
        int[][] result = new int[strides.length + 1][];
        result[0] = java.util.Arrays.copyOf(outShape, r);
        for (int s = 0; s < strides.length; s++) {
            result[s + 1] = java.util.Arrays.copyOf(outStrides[s], r);
        }
        return result;
    }

    private static boolean mergeable(int[] outShape, int[][] outStrides, int[][] strides, int previous, int d, int[] shape) {
        for (int s = 0; s < strides.length; s++) {
            if (outStrides[s][previous] != strides[s][d] * shape[d]) {
                return false;
            }
        }
        return true;
    }
}
