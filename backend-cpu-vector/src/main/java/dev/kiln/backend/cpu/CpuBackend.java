package dev.kiln.backend.cpu;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.KernelRegistry;
import dev.kiln.api.ops.AdamUpdate;
import dev.kiln.api.ops.Attention;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.ops.CrossEntropy;
import dev.kiln.api.ops.Gelu;
import dev.kiln.api.ops.GeluErf;
import dev.kiln.api.ops.LayerNorm;
import dev.kiln.api.ops.LogSoftmax;
import dev.kiln.api.ops.LstmCell;
import dev.kiln.api.ops.Softmax;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The CPU backend: Java arrays as storage, Vector API kernels (or scalar ones, {@code vector.bits=0}) on a thread pool
 * of its own ({@link Parallel}). Every fused operation but RMSNorm has a one-pass kernel in {@link #kernels()}.
 */
public final class CpuBackend implements Backend {
    private final Parallel parallel;
    private final boolean vector;
    private final AtomicLong live = new AtomicLong();
    private final ElementwiseKernels elementwise;
    private final ReduceKernels reduce;
    private final MemoryKernels memory;
    private final Gemm gemm;
    private final FusedKernels fused;
    private final AttentionKernel attention;
    private final ArrayPool pool;
    private final boolean poison;
    private final KernelRegistry kernels;

    /**
     * @param threads the pool size (1 runs everything on the caller)
     * @param vector  false runs the scalar path of every kernel
     */
    public CpuBackend(int threads, boolean vector) {
        this(threads, vector, false);
    }

    /**
     * @param poison fill every {@link #allocateUninitialized uninitialized} storage with NaN, so that an operation that
     *               leaves part of its output unwritten shows up in any result computed from it (for testing)
     */
    public CpuBackend(int threads, boolean vector, boolean poison) {
        if (threads < 1) {
            throw new KilnException("cpu backend: threads must be at least 1, got " + threads);
        }
        this.parallel = new Parallel(threads);
        this.vector = vector;
        this.elementwise = new ElementwiseKernels(parallel, vector);
        this.reduce = new ReduceKernels(parallel, vector);
        this.memory = new MemoryKernels(parallel, vector);
        this.gemm = new Gemm(parallel, vector);
        this.fused = new FusedKernels(parallel, vector, reduce);
        this.attention = new AttentionKernel(parallel, vector);
        this.pool = new ArrayPool(Math.min(Runtime.getRuntime().maxMemory() / 4, 4L << 30));
        this.poison = poison;
        this.kernels = registerKernels();
    }

    @Override
    public String id() {
        return "cpu";
    }

    public int threads() {
        return parallel.threads();
    }

    /** The vector width in bits, or 0 on the scalar path. */
    public int vectorBits() {
        return vector ? Vectors.F.vectorBitSize() : 0;
    }

    @Override
    public String toString() {
        return "cpu(threads=" + threads() + ", vector.bits=" + vectorBits() + (poison ? ", poison" : "") + ")";
    }

    // ---------------------------------------------------------------- memory

    private CpuStorage cpu(Storage s) {
        if (!(s instanceof CpuStorage c) || c.backend() != this) {
            throw new KilnException("cpu backend: storage " + s + " belongs to another backend");
        }
        if (c.isReleased()) {
            throw new KilnException("cpu backend: storage used after release (was its MemoryScope closed?)");
        }
        return c;
    }

    private float[] f(Storage s) {
        CpuStorage c = cpu(s);
        if (c.floats == null) {
            throw new KilnException("cpu backend: expected a FLOAT32 storage, got " + c.dtype());
        }
        return c.floats;
    }

    private int[] i(Storage s) {
        CpuStorage c = cpu(s);
        if (c.ints == null) {
            throw new KilnException("cpu backend: expected an INT32 storage, got " + c.dtype());
        }
        return c.ints;
    }

    @Override
    public Storage allocate(DType dtype, int size) {
        if (size < 0) {
            throw new KilnException("cpu backend: negative size " + size);
        }
        live.incrementAndGet();
        return switch (dtype) {
            case FLOAT32 -> new CpuStorage(this, dtype, pool.take(size, parallel), null, size);
            case INT32 -> new CpuStorage(this, dtype, null, new int[size], size);
            default -> {
                live.decrementAndGet();
                throw new KilnException("cpu backend: " + dtype + " storage is not supported yet (FLOAT32, INT32)");
            }
        };
    }

    /** A pooled array as it was left (no zero fill): the api asks for this only where every element gets written. */
    @Override
    public Storage allocateUninitialized(DType dtype, int size) {
        if (dtype != DType.FLOAT32 || size < 0) {
            return allocate(dtype, size);
        }
        live.incrementAndGet();
        Storage storage = new CpuStorage(this, dtype, pool.takeAsLeft(size), null, size);
        if (poison) {
            fill(storage, Float.NaN);
        }
        return storage;
    }

    @Override
    public Storage upload(float[] data) {
        live.incrementAndGet();
        return new CpuStorage(this, DType.FLOAT32, data.clone(), null, data.length);
    }

    @Override
    public Storage upload(int[] data) {
        live.incrementAndGet();
        return new CpuStorage(this, DType.INT32, null, data.clone(), data.length);
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
        if (storage instanceof CpuStorage c && c.backend() == this && !c.isReleased()) {
            if (c.floats != null) {
                pool.give(c.floats);
            }
            c.floats = null;
            c.ints = null;
            live.decrementAndGet();
        }
    }

    @Override
    public long liveStorages() {
        return live.get();
    }

    // ---------------------------------------------------------------- primitives

    @Override
    public void fill(Storage destination, float value) {
        memory.fill(f(destination), destination.size(), value);
    }

    @Override
    public void randomFill(Storage destination, Distribution distribution, float a, float b, long seed) {
        memory.randomFill(f(destination), destination.size(), distribution, a, b, seed);
    }

    @Override
    public void copyStrided(Storage src, int srcOffset, int[] shape, int[] srcStrides,
                            Storage dst, int dstOffset, int[] dstStrides) {
        CpuStorage s = cpu(src);
        CpuStorage d = cpu(dst);
        Object from = s.floats != null ? s.floats : s.ints;
        Object to = d.floats != null ? d.floats : d.ints;
        memory.copyStrided(from, srcOffset, shape, srcStrides, to, dstOffset, dstStrides);
    }

    @Override
    public void unary(UnaryOp op, Storage x, Storage out) {
        elementwise.unary(op, f(x), f(out), x.size());
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] outShape) {
        elementwise.binary(op, f(a), aStrides, f(b), bStrides, f(out), outShape);
    }

    @Override
    public void reduce(ReduceOp op, Storage x, int outer, int axis, int inner, Storage out) {
        reduce.reduce(op, f(x), outer, axis, inner, f(out));
    }

    @Override
    public void matmul(Storage a, Storage b, Storage c, MatmulShape shape) {
        gemm.multiply(f(a), f(b), f(c), shape);
    }

    @Override
    public void gather(Storage table, int columns, Storage indices, Storage out) {
        memory.gather(f(table), columns, i(indices), indices.size(), f(out));
    }

    @Override
    public void scatterAdd(Storage src, int columns, Storage indices, Storage table) {
        memory.scatterAdd(f(src), columns, i(indices), indices.size(), f(table));
    }

    // ---------------------------------------------------------------- fused kernels

    @Override
    public KernelRegistry kernels() {
        return kernels;
    }

    /** Every fused operation this backend accelerates, bound to this backend's arrays. */
    private KernelRegistry registerKernels() {
        return KernelRegistry.builder()
                .register(Softmax.OP, new Softmax.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out, int rows, int cols) {
                        fused.softmax(f(x), f(out), rows, cols);
                    }

                    @Override
                    public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                        fused.softmaxBackward(f(y), f(dy), f(dx), rows, cols);
                    }
                })
                .register(LogSoftmax.OP, new LogSoftmax.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out, int rows, int cols) {
                        fused.logSoftmax(f(x), f(out), rows, cols);
                    }

                    @Override
                    public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                        fused.logSoftmaxBackward(f(y), f(dy), f(dx), rows, cols);
                    }
                })
                .register(LayerNorm.OP, new LayerNorm.Kernel() {
                    @Override
                    public void forward(Storage x, Storage gamma, Storage beta, Storage out, Storage mean,
                                        Storage rstd, int rows, int cols, float eps) {
                        fused.layerNorm(f(x), f(gamma), f(beta), f(out), f(mean), f(rstd), rows, cols, eps);
                    }

                    @Override
                    public void backward(Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                                         Storage dx, Storage dgamma, Storage dbeta, int rows, int cols) {
                        fused.layerNormBackward(f(x), f(gamma), f(mean), f(rstd), f(dy), f(dx), f(dgamma), f(dbeta),
                                rows, cols);
                    }
                })
                .register(CrossEntropy.OP, new CrossEntropy.Kernel() {
                    @Override
                    public void forward(Storage logits, Storage targets, Storage rowLoss, Storage rowLse, int rows,
                                        int cols, int ignoreIndex) {
                        fused.crossEntropy(f(logits), i(targets), f(rowLoss), f(rowLse), rows, cols, ignoreIndex);
                    }

                    @Override
                    public void backward(Storage logits, Storage targets, Storage rowLse, Storage dlogits,
                                         float scale, int rows, int cols, int ignoreIndex) {
                        fused.crossEntropyBackward(f(logits), i(targets), f(rowLse), f(dlogits), scale, rows, cols,
                                ignoreIndex);
                    }
                })
                .register(Gelu.OP, new Gelu.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out) {
                        fused.gelu(f(x), f(out), x.size());
                    }

                    @Override
                    public void backward(Storage x, Storage dy, Storage dx) {
                        fused.geluBackward(f(x), f(dy), f(dx), x.size());
                    }
                })
                .register(GeluErf.OP, new GeluErf.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out) {
                        fused.geluErf(f(x), f(out), x.size());
                    }

                    @Override
                    public void backward(Storage x, Storage dy, Storage dx) {
                        fused.geluErfBackward(f(x), f(dy), f(dx), x.size());
                    }
                })
                .register(AdamUpdate.OP, (param, grad, m, v, step) ->
                        fused.adam(f(param), f(grad), f(m), f(v), param.size(), step))
                .register(Attention.OP, new Attention.Kernel() {
                    @Override
                    public void forward(Storage q, Storage k, Storage v, Storage out, Storage lse,
                                        AttentionShape shape) {
                        attention.forward(f(q), f(k), f(v), f(out), f(lse), shape);
                    }

                    @Override
                    public void backward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                                         Storage dq, Storage dk, Storage dv, AttentionShape shape) {
                        attention.backward(f(q), f(k), f(v), f(out), f(lse), f(dout), f(dq), f(dk), f(dv), shape);
                    }
                })
                .register(LstmCell.OP, new LstmCell.Kernel() {
                    @Override
                    public void forward(Storage gates, Storage cPrev, Storage h, Storage c, Storage activated,
                                        int batch, int hidden) {
                        fused.lstmCell(f(gates), f(cPrev), f(h), f(c), f(activated), batch, hidden);
                    }

                    @Override
                    public void backward(Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc,
                                         Storage dGates, Storage dCPrev, int batch, int hidden) {
                        fused.lstmCellBackward(f(activated), f(cPrev), f(c), f(dh), f(dc), f(dGates), f(dCPrev),
                                batch, hidden);
                    }
                })
                .build();
    }

    @Override
    public void close() {
        parallel.close();
    }
}
