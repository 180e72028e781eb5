package dev.kiln.api.backend;


/**
 * The hardware seam. A backend implements a small set of primitive kernels over {@link Storage}s; everything else —
 * autograd, layers, optimizers, models — is written once above it. The fused operations at the bottom are
 * {@code default} methods composed from the primitives (see {@link Compositions}); a backend overrides one only to be
 * faster, and the conformance kit proves the override equals the composition.
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

    // ---------------------------------------------------------------- fused operations (defaults, overridable)

    /** Row-wise softmax of a (rows, cols) matrix. */
    default void softmax(Storage x, Storage out, int rows, int cols) {
        Compositions.softmax(this, x, out, rows, cols);
    }

    default void logSoftmax(Storage x, Storage out, int rows, int cols) {
        Compositions.logSoftmax(this, x, out, rows, cols);
    }

    /** dx = y ⊙ (dy − Σ_row dy ⊙ y), given the softmax output y. */
    default void softmaxBackward(Storage y, Storage dy, Storage dx, int rows, int cols) {
        Compositions.softmaxBackward(this, y, dy, dx, rows, cols);
    }

    /** dx = dy − exp(y) Σ_row dy, given the log-softmax output y. */
    default void logSoftmaxBackward(Storage y, Storage dy, Storage dx, int rows, int cols) {
        Compositions.logSoftmaxBackward(this, y, dy, dx, rows, cols);
    }

    /** Layer norm over the last axis; writes out and, for the backward pass, each row's mean and 1/σ. */
    default void layerNorm(Storage x, Storage gamma, Storage beta, Storage out, Storage mean, Storage rstd,
                           int rows, int cols, float eps) {
        Compositions.layerNorm(this, x, gamma, beta, out, mean, rstd, rows, cols, eps);
    }

    /** Overwrites dx, dgamma and dbeta. */
    default void layerNormBackward(Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                                   Storage dx, Storage dgamma, Storage dbeta, int rows, int cols) {
        Compositions.layerNormBackward(this, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols);
    }

    /**
     * Per-row cross-entropy of logits (rows, cols) against INT32 targets: rowLoss = logsumexp − logit[target]
     * (0 where target == ignoreIndex), rowLse = logsumexp, kept for the backward pass.
     */
    default void crossEntropy(Storage logits, Storage targets, Storage rowLoss, Storage rowLse,
                              int rows, int cols, int ignoreIndex) {
        Compositions.crossEntropy(this, logits, targets, rowLoss, rowLse, rows, cols, ignoreIndex);
    }

    /** dlogits = scale · (softmax − onehot(target)), 0 on ignored rows. */
    default void crossEntropyBackward(Storage logits, Storage targets, Storage rowLse, Storage dlogits, float scale,
                                      int rows, int cols, int ignoreIndex) {
        Compositions.crossEntropyBackward(this, logits, targets, rowLse, dlogits, scale, rows, cols, ignoreIndex);
    }

    /** GELU, tanh approximation (GPT-2's). */
    default void gelu(Storage x, Storage out) {
        Compositions.gelu(this, x, out);
    }

    default void geluBackward(Storage x, Storage dy, Storage dx) {
        Compositions.geluBackward(this, x, dy, dx);
    }

    /** One Adam / AdamW step in place on param, m and v, with PyTorch's arithmetic. */
    default void adamUpdate(Storage param, Storage grad, Storage m, Storage v, AdamStep step) {
        Compositions.adamUpdate(this, param, grad, m, v, step);
    }

    /**
     * Causal scaled-dot-product attention over (batchHeads, t, d) tensors: out = softmax(q·kᵀ·scale + causal mask)·v.
     * Writes each query row's log-sum-exp of the scaled, masked scores to lse (batchHeads·t) for the backward pass.
     */
    default void causalAttention(Storage q, Storage k, Storage v, Storage out, Storage lse,
                                 int batchHeads, int t, int d, float scale) {
        Compositions.causalAttention(this, q, k, v, out, lse, batchHeads, t, d, scale);
    }

    /** Overwrites dq, dk and dv. */
    default void causalAttentionBackward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                                         Storage dq, Storage dk, Storage dv,
                                         int batchHeads, int t, int d, float scale) {
        Compositions.causalAttentionBackward(this, q, k, v, out, lse, dout, dq, dk, dv, batchHeads, t, d, scale);
    }

    /**
     * One LSTM step, PyTorch's gate order (i, f, g, o): from pre-activation gates (batch, 4·hidden) and the previous
     * cell state (batch, hidden), c = σ(f)·cPrev + σ(i)·tanh(g) and h = σ(o)·tanh(c). Also writes the activated gates
     * (σ(i), σ(f), tanh(g), σ(o)), same layout as gates, for the backward pass.
     */
    default void lstmCell(Storage gates, Storage cPrev, Storage h, Storage c, Storage activated, int batch, int hidden) {
        Compositions.lstmCell(this, gates, cPrev, h, c, activated, batch, hidden);
    }

    /**
     * The LSTM step's backward pass: from the gradients reaching h and c, overwrites dGates (batch, 4·hidden, with
     * respect to the pre-activation gates) and dCPrev.
     */
    default void lstmCellBackward(Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc,
                                  Storage dGates, Storage dCPrev, int batch, int hidden) {
        Compositions.lstmCellBackward(this, activated, cPrev, c, dh, dc, dGates, dCPrev, batch, hidden);
    }

    /** Releases what the backend itself holds (thread pools, device contexts). */
    @Override
    default void close() {
    }
}
