package dev.kiln.backend.opencl;

import java.util.ArrayList;
import java.util.List;

/** Shrinks a strided iteration before it reaches a kernel: size-1 dimensions go, and neighbours that walk memory as one merge. */
final class Strides {
    private Strides() {
    }

    static int count(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** How many runs of the last dimension a (coalesced) shape has: the work-items of the strided kernels. */
    static int runs(int[] shape) {
        if (shape.length == 0) {
            return 1;
        }
        int n = 1;
        for (int i = 0; i < shape.length - 1; i++) {
            n *= shape[i];
        }
        return n;
    }

    /**
     * Returns {shape, strides of the first array, strides of the second} with the fewest dimensions that visit the same
     * elements in the same order. Dimension i and i + 1 merge when every array has stride[i] == stride[i+1]·shape[i+1].
     */
    static int[][] coalesce(int[] shape, int[] first, int[] second) {
        List<int[]> dims = new ArrayList<>();                   // {size, stride1, stride2}
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] != 1) {
                dims.add(new int[] {shape[i], first[i], second[i]});
            }
        }
        for (int i = dims.size() - 2; i >= 0; i--) {
            int[] outer = dims.get(i);
            int[] inner = dims.get(i + 1);
            if (outer[1] == inner[1] * inner[0] && outer[2] == inner[2] * inner[0]) {
                dims.set(i, new int[] {outer[0] * inner[0], inner[1], inner[2]});
                dims.remove(i + 1);
            }
        }
        int[][] out = new int[3][dims.size()];
        for (int i = 0; i < dims.size(); i++) {
            out[0][i] = dims.get(i)[0];
            out[1][i] = dims.get(i)[1];
            out[2][i] = dims.get(i)[2];
        }
        return out;
    }
}
