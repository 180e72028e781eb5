package dev.kiln.api.tensor;

import dev.kiln.api.KilnException;
import java.util.Arrays;

/** Shape arithmetic shared by the tensor operations: sizes, broadcasting, strides. */
final class Shapes {
    private Shapes() {
    }

    static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (n > Integer.MAX_VALUE) {
            throw new KilnException("tensor of shape " + str(shape) + " has more than 2^31 - 1 elements");
        }
        return (int) n;
    }

    static int numel(int[] shape, int from, int to) {
        int n = 1;
        for (int i = from; i < to; i++) {
            n *= shape[i];
        }
        return n;
    }

    static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    static int[] contiguousStrides(int[] shape) {
        int[] strides = new int[shape.length];
        int stride = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= shape[i];
        }
        return strides;
    }

    /** Resolves a possibly negative dimension index, or names the operation and shape in the error. */
    static int dim(String op, int[] shape, int dim) {
        int d = dim < 0 ? dim + shape.length : dim;
        if (d < 0 || d >= shape.length) {
            throw new KilnException(op + ": dimension " + dim + " is out of range for shape " + str(shape));
        }
        return d;
    }

    /** The numpy/PyTorch broadcast of two shapes, or an error naming the operation and both shapes. */
    static int[] broadcast(String op, int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)] : 1;
            int db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new KilnException(op + ": shapes " + str(a) + " and " + str(b) + " cannot be broadcast together"
                        + " (dimension " + i + ": " + da + " vs " + db + ")");
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Strides that read a dense tensor of shape {@code in} as if it had the broadcast shape {@code out}. */
    static int[] broadcastStrides(int[] in, int[] out) {
        int[] dense = contiguousStrides(in);
        int[] strides = new int[out.length];
        int offset = out.length - in.length;
        for (int i = 0; i < out.length; i++) {
            int j = i - offset;
            strides[i] = j < 0 || in[j] == 1 ? 0 : dense[j];
        }
        return strides;
    }

    static int[] without(int[] shape, int dim, boolean keepDim) {
        if (keepDim) {
            int[] out = shape.clone();
            out[dim] = 1;
            return out;
        }
        int[] out = new int[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != dim) {
                out[j++] = shape[i];
            }
        }
        return out;
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static int[] swapLastTwo(int[] shape) {
        int[] out = shape.clone();
        int r = shape.length;
        out[r - 1] = shape[r - 2];
        out[r - 2] = shape[r - 1];
        return out;
    }
}
