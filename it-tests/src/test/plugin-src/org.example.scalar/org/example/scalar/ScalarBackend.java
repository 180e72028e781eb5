package org.example.scalar;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;

/** Java arrays and plain loops: every primitive, no fused kernel (each fused operation runs its composition). */
final class ScalarBackend implements Backend {
    private long live;

    private final class Buffer implements Storage {
        final DType dtype;
        float[] floats;
        int[] ints;
        final int size;

        Buffer(DType dtype, int size) {
            this.dtype = dtype;
            this.size = size;
            if (dtype == DType.FLOAT32) {
                floats = new float[size];
            } else if (dtype == DType.INT32) {
                ints = new int[size];
            } else {
                throw new KilnException("scalar backend: " + dtype + " is not supported");
            }
            live++;
        }

        @Override
        public DType dtype() {
            return dtype;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public Backend backend() {
            return ScalarBackend.this;
        }

        @Override
        public boolean isReleased() {
            return floats == null && ints == null;
        }
    }

    private Buffer buffer(Storage s) {
        if (!(s instanceof Buffer b) || b.backend() != this || b.isReleased()) {
            throw new KilnException("scalar backend: a storage of another backend, or released");
        }
        return b;
    }

    private float[] f(Storage s) {
        return buffer(s).floats;
    }

    private int[] i(Storage s) {
        return buffer(s).ints;
    }

    @Override
    public String id() {
        return "scalar";
    }

    @Override
    public Storage allocate(DType dtype, int size) {
        return new Buffer(dtype, size);
    }

    @Override
    public Storage upload(float[] data) {
        Buffer b = new Buffer(DType.FLOAT32, data.length);
        System.arraycopy(data, 0, b.floats, 0, data.length);
        return b;
    }

    @Override
    public Storage upload(int[] data) {
        Buffer b = new Buffer(DType.INT32, data.length);
        System.arraycopy(data, 0, b.ints, 0, data.length);
        return b;
    }

    @Override
    public void download(Storage source, float[] destination) {
        System.arraycopy(f(source), 0, destination, 0, Math.min(destination.length, source.size()));
    }

    @Override
    public void download(Storage source, int[] destination) {
        System.arraycopy(i(source), 0, destination, 0, Math.min(destination.length, source.size()));
    }

    @Override
    public void release(Storage storage) {
        if (storage instanceof Buffer b && b.backend() == this && !b.isReleased()) {
            b.floats = null;
            b.ints = null;
            live--;
        }
    }

    @Override
    public long liveStorages() {
        return live;
    }

    @Override
    public void fill(Storage destination, float value) {
        java.util.Arrays.fill(f(destination), value);
    }

    @Override
    public void randomFill(Storage destination, Distribution distribution, float a, float b, long seed) {
        float[] x = f(destination);
        for (int n = 0; n < x.length; n++) {
            x[n] = CounterRandom.sample(distribution, a, b, seed, n);
        }
    }

    /** The offset of the element with flat index {@code flat} of {@code shape} under {@code strides}. */
    private static int offset(int flat, int[] shape, int[] strides, int base) {
        int offset = base;
        for (int d = shape.length - 1; d >= 0; d--) {
            offset += (flat % shape[d]) * strides[d];
            flat /= shape[d];
        }
        return offset;
    }

    private static int count(int[] shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    @Override
    public void copyStrided(Storage src, int srcOffset, int[] shape, int[] srcStrides,
                            Storage dst, int dstOffset, int[] dstStrides) {
        Buffer s = buffer(src);
        Buffer d = buffer(dst);
        int n = count(shape);
        for (int e = 0; e < n; e++) {
            int from = offset(e, shape, srcStrides, srcOffset);
            int to = offset(e, shape, dstStrides, dstOffset);
            if (d.floats != null) {
                d.floats[to] = s.floats != null ? s.floats[from] : s.ints[from];
            } else {
                d.ints[to] = s.ints != null ? s.ints[from] : (int) s.floats[from];
            }
        }
    }

    @Override
    public void unary(UnaryOp op, Storage x, Storage out) {
        float[] in = f(x);
        float[] o = f(out);
        for (int n = 0; n < x.size(); n++) {
            o[n] = op.apply(in[n]);
        }
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] outShape) {
        float[] x = f(a);
        float[] y = f(b);
        float[] o = f(out);
        int n = count(outShape);
        for (int e = 0; e < n; e++) {
            o[e] = op.apply(x[offset(e, outShape, aStrides, 0)], y[offset(e, outShape, bStrides, 0)]);
        }
    }

    @Override
    public void reduce(ReduceOp op, Storage x, int outer, int axis, int inner, Storage out) {
        float[] in = f(x);
        float[] o = f(out);
        for (int r = 0; r < outer; r++) {
            for (int c = 0; c < inner; c++) {
                float acc = op == ReduceOp.SUM ? 0f : Float.NEGATIVE_INFINITY;
                for (int a = 0; a < axis; a++) {
                    float v = in[(r * axis + a) * inner + c];
                    acc = op == ReduceOp.SUM ? acc + v : Float.isNaN(v) || Float.isNaN(acc) ? Float.NaN : Math.max(acc, v);
                }
                o[r * inner + c] = acc;
            }
        }
    }

    @Override
    public void matmul(Storage a, Storage b, Storage c, MatmulShape s) {
        float[] x = f(a);
        float[] y = f(b);
        float[] z = f(c);
        for (int batch = 0; batch < s.batch(); batch++) {
            int ao = batch * s.aBatchStride();
            int bo = batch * s.bBatchStride();
            int co = batch * s.m() * s.n();
            for (int i = 0; i < s.m(); i++) {
                for (int j = 0; j < s.n(); j++) {
                    float sum = 0f;
                    for (int p = 0; p < s.k(); p++) {
                        float left = s.transA() ? x[ao + p * s.m() + i] : x[ao + i * s.k() + p];
                        float right = s.transB() ? y[bo + j * s.k() + p] : y[bo + p * s.n() + j];
                        sum += left * right;
                    }
                    z[co + i * s.n() + j] = s.accumulate() ? z[co + i * s.n() + j] + sum : sum;
                }
            }
        }
    }

    @Override
    public void gather(Storage table, int columns, Storage indices, Storage out) {
        float[] t = f(table);
        int[] ids = i(indices);
        float[] o = f(out);
        for (int r = 0; r < ids.length; r++) {
            System.arraycopy(t, ids[r] * columns, o, r * columns, columns);
        }
    }

    @Override
    public void scatterAdd(Storage src, int columns, Storage indices, Storage table) {
        float[] s = f(src);
        int[] ids = i(indices);
        float[] t = f(table);
        for (int r = 0; r < ids.length; r++) {
            for (int c = 0; c < columns; c++) {
                t[ids[r] * columns + c] += s[r * columns + c];
            }
        }
    }
}
