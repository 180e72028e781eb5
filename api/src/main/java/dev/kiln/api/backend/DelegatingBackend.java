package dev.kiln.api.backend;

/**
 * A backend that forwards every call to another one: extend it to override one method (count calls, inject a fault,
 * meter memory) and keep the rest. Kernel look-ups are forwarded too, so the delegate's fused kernels still run — on
 * the delegate's storages, which are the only storages a delegating backend hands out.
 */
public class DelegatingBackend implements Backend {
    protected final Backend delegate;

    public DelegatingBackend(Backend delegate) {
        this.delegate = delegate;
    }

    @Override
    public String id() {
        return delegate.id();
    }

    @Override
    public Storage allocate(DType dtype, int size) {
        return delegate.allocate(dtype, size);
    }

    @Override
    public Storage allocateUninitialized(DType dtype, int size) {
        return delegate.allocateUninitialized(dtype, size);
    }

    @Override
    public Storage upload(float[] data) {
        return delegate.upload(data);
    }

    @Override
    public Storage upload(int[] data) {
        return delegate.upload(data);
    }

    @Override
    public void download(Storage source, float[] destination) {
        delegate.download(source, destination);
    }

    @Override
    public void download(Storage source, int[] destination) {
        delegate.download(source, destination);
    }

    @Override
    public void release(Storage storage) {
        delegate.release(storage);
    }

    @Override
    public long liveStorages() {
        return delegate.liveStorages();
    }

    @Override
    public void fill(Storage destination, float value) {
        delegate.fill(destination, value);
    }

    @Override
    public void randomFill(Storage destination, Distribution distribution, float a, float b, long seed) {
        delegate.randomFill(destination, distribution, a, b, seed);
    }

    @Override
    public void copyStrided(Storage src, int srcOffset, int[] shape, int[] srcStrides,
                            Storage dst, int dstOffset, int[] dstStrides) {
        delegate.copyStrided(src, srcOffset, shape, srcStrides, dst, dstOffset, dstStrides);
    }

    @Override
    public void unary(UnaryOp op, Storage x, Storage out) {
        delegate.unary(op, x, out);
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] outShape) {
        delegate.binary(op, a, aStrides, b, bStrides, out, outShape);
    }

    @Override
    public void reduce(ReduceOp op, Storage x, int outer, int axis, int inner, Storage out) {
        delegate.reduce(op, x, outer, axis, inner, out);
    }

    @Override
    public void matmul(Storage a, Storage b, Storage c, MatmulShape shape) {
        delegate.matmul(a, b, c, shape);
    }

    @Override
    public void gather(Storage table, int columns, Storage indices, Storage out) {
        delegate.gather(table, columns, indices, out);
    }

    @Override
    public void scatterAdd(Storage src, int columns, Storage indices, Storage table) {
        delegate.scatterAdd(src, columns, indices, table);
    }

    @Override
    public KernelRegistry kernels() {
        return delegate.kernels();
    }

    @Override
    public void close() {
        delegate.close();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + delegate + ")";
    }
}
