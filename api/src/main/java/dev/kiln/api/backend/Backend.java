package dev.kiln.api.backend;


/**
 * The hardware seam. A backend implements a small set of primitive kernels over {@link Storage}s; everything else —
 * autograd, layers, optimizers, models — is written once above it. Fused operations (softmax, layer norm, attention,
 * …) are not part of this interface: each is a {@link FusedOperation} with a composition over these primitives, and a
 * backend that accelerates one registers a kernel for it in {@link #kernels()}; the conformance kit proves every
 * registered kernel equals the composition.
 *
 * <p>Shapes and dtypes are checked in the api before a backend is called, so backends may trust their arguments.
 * All storages are dense and row-major; strides are in elements.
 */
public interface Backend extends AutoCloseable {

    /** The provider id this backend was created by, e.g. {@code cpu}. */
    String id();

    // ---------------------------------------------------------------- memory (required)

    /** A zero-filled storage of {@code size} elements. */
    Storage allocate(DType dtype, int size);

    /**
     * A storage of {@code size} elements whose contents are unspecified (PyTorch's {@code torch.empty}), for the output
     * of an operation that writes every element of it; the api uses it for exactly those. A backend that reuses memory
     * saves the zero fill; by default it is {@link #allocate}.
     */
    default Storage allocateUninitialized(DType dtype, int size) {
        return allocate(dtype, size);
    }

    Storage upload(float[] data);

    Storage upload(int[] data);

    void download(Storage source, float[] destination);

    void download(Storage source, int[] destination);

    /** Frees the storage now (deterministically, for device memory). Releasing twice is a no-op. */
    void release(Storage storage);

    /** How many storages are allocated and not yet released: the conformance kit checks scopes with it. */
    long liveStorages();

    // ---------------------------------------------------------------- compute primitives (required)

    void fill(Storage destination, float value);

    /**
     * Fills with pseudo-random numbers that depend only on {@code seed} and each element's index, so that every backend
     * and every thread count gives the same numbers: element i is {@link CounterRandom#uniform(long, long)} (or its
     * normal transform) of (seed, i).
     */
    void randomFill(Storage destination, Distribution distribution, float a, float b, long seed);

    /**
     * Copies the strided view {@code src[srcOffset + Σ idx·srcStrides]} of the given shape into
     * {@code dst[dstOffset + Σ idx·dstStrides]}, converting between FLOAT32 and INT32 when the dtypes differ. Permute,
     * slice, concat, expand and type conversion are all this one kernel.
     */
    void copyStrided(Storage src, int srcOffset, int[] shape, int[] srcStrides,
                     Storage dst, int dstOffset, int[] dstStrides);

    /** out[i] = op(x[i]) for every element; out may be x. */
    void unary(UnaryOp op, Storage x, Storage out);

    /**
     * out[idx] = op(a[Σ idx·aStrides], b[Σ idx·bStrides]) over the dense {@code outShape}; a stride of 0 broadcasts.
     * out may alias a or b when their strides are dense.
     */
    void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] outShape);

    /** Views x as (outer, axis, inner) and reduces the middle axis: out (outer, inner). */
    void reduce(ReduceOp op, Storage x, int outer, int axis, int inner, Storage out);

    /** Batched matrix product, see {@link MatmulShape}. */
    void matmul(Storage a, Storage b, Storage c, MatmulShape shape);

    /** out[i, :] = table[indices[i], :] for a table of {@code columns} columns; indices are INT32. */
    void gather(Storage table, int columns, Storage indices, Storage out);

    /** table[indices[i], :] += src[i, :]; repeated indices accumulate. */
    void scatterAdd(Storage src, int columns, Storage indices, Storage table);

    // ---------------------------------------------------------------- fused kernels (optional)

    /**
     * The fused-operation kernels this backend accelerates (see {@link FusedOperation}); every operation not listed runs
     * its composition over the primitives above. By default none.
     */
    default KernelRegistry kernels() {
        return KernelRegistry.EMPTY;
    }

    /** Releases what the backend itself holds (thread pools, device contexts). */
    @Override
    default void close() {
    }
}
