package dev.kiln.backend.opencl;

import static org.jocl.CL.CL_MEM_READ_WRITE;
import static org.jocl.CL.CL_TRUE;
import static org.jocl.CL.clCreateBuffer;
import static org.jocl.CL.clEnqueueFillBuffer;
import static org.jocl.CL.clEnqueueNDRangeKernel;
import static org.jocl.CL.clEnqueueReadBuffer;
import static org.jocl.CL.clEnqueueWriteBuffer;
import static org.jocl.CL.clReleaseMemObject;
import static org.jocl.CL.clSetKernelArg;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.AdamStep;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
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
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

/**
 * Kiln on an OpenCL device. Storages are device buffers; every operation is a kernel from {@code kernels.cl} enqueued
 * on one in-order queue, so data stays on the device between operations and the host waits only to download. OpenCL
 * errors become Kiln exceptions naming the kernel and the device.
 *
 * <p>Normal random fills are computed on the host with {@link CounterRandom} and uploaded (they initialise weights, once):
 * that keeps them bit-identical to every other backend without relying on the device's log and cos. Uniform fills
 * (dropout masks, every step) run on the device, bit-identical too since they need only integer arithmetic.
 */
final class OpenClBackend implements Backend {
    private static final int MAX_RANK = 8;
    private static final int MAX_HEAD = 128;
    /** Work-group size for kernels with head-sized private arrays (see kernels.cl). */
    private static final int SMALL_GROUP = 32;
    private static final int MATMUL_TILE = 64;
    private static final int MATMUL_THREADS = 16;
    /** Columns per panel of a packed B, and 4 × PANEL blocks of C per work-item of {@code matmul_rows}: kernels.cl. */
    private static final int MATMUL_PANEL = 16;
    private static final int MATMUL_ROW_TILES = 8;

    private final ClDevice device;
    private final boolean rowsMatmul;
    private final AtomicLong live = new AtomicLong();
    private final KernelRegistry kernels;

    /** {@code rowsMatmul}: the register-blocked kernel for CPU devices; otherwise local-memory tiles (GPUs). */
    OpenClBackend(ClDevice device, boolean rowsMatmul) {
        this.device = device;
        this.rowsMatmul = rowsMatmul;
        this.kernels = registerKernels();
    }

    @Override
    public String id() {
        return OpenClBackendProvider.ID;
    }

    // ---------------------------------------------------------------- memory

    @Override
    public Storage allocate(DType dtype, int size) {
        ClStorage storage = create(dtype, size);
        if (size > 0) {
            run("allocate", () -> clEnqueueFillBuffer(device.queue, storage.memory, Pointer.to(new int[] {0}),
                    Sizeof.cl_int, 0, (long) size * Sizeof.cl_float, 0, null, null));
        }
        return storage;
    }

    private ClStorage create(DType dtype, int size) {
        if (dtype != DType.FLOAT32 && dtype != DType.INT32) {
            throw new KilnException("opencl backend: " + dtype + " storages are not supported yet (FLOAT32, INT32)");
        }
        long bytes = Math.max(1, (long) size) * Sizeof.cl_float;         // OpenCL has no empty buffers
        cl_mem memory = run("allocate " + bytes + " bytes", () -> clCreateBuffer(device.context, CL_MEM_READ_WRITE,
                bytes, null, null));
        live.incrementAndGet();
        return new ClStorage(memory, dtype, size, this);
    }

    @Override
    public Storage upload(float[] data) {
        ClStorage storage = create(DType.FLOAT32, data.length);
        write(storage, Pointer.to(data), data.length);
        return storage;
    }

    @Override
    public Storage upload(int[] data) {
        ClStorage storage = create(DType.INT32, data.length);
        write(storage, Pointer.to(data), data.length);
        return storage;
    }

    private void write(ClStorage storage, Pointer data, int length) {
        if (length > 0) {
            run("upload", () -> clEnqueueWriteBuffer(device.queue, storage.memory, CL_TRUE, 0,
                    (long) length * Sizeof.cl_float, data, 0, null, null));
        }
    }

    @Override
    public void download(Storage source, float[] destination) {
        read(cl(source), Pointer.to(destination), destination.length);
    }

    @Override
    public void download(Storage source, int[] destination) {
        read(cl(source), Pointer.to(destination), destination.length);
    }

    private void read(ClStorage storage, Pointer destination, int length) {
        if (length > 0) {
            run("download", () -> clEnqueueReadBuffer(device.queue, storage.memory, CL_TRUE, 0,
                    (long) length * Sizeof.cl_float, destination, 0, null, null));
        }
    }

    @Override
    public void release(Storage storage) {
        ClStorage s = cl(storage);
        if (s.markReleased()) {
            clReleaseMemObject(s.memory);               // OpenCL keeps it alive for commands still queued
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
        ClStorage d = cl(destination);
        if (d.dtype() == DType.INT32) {
            launch("fill_i", d.size(), d, (int) value);
        } else {
            launch("fill_f", d.size(), d, value);
        }
    }

    @Override
    public void randomFill(Storage destination, Distribution distribution, float a, float b, long seed) {
        ClStorage d = cl(destination);
        if (distribution == Distribution.UNIFORM) {
            launch("random_uniform", d.size(), d, seed, a, b);
            return;
        }
        float[] values = new float[d.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = CounterRandom.sample(distribution, a, b, seed, i);
        }
        write(d, Pointer.to(values), values.length);
    }

    @Override
    public void copyStrided(Storage src, int srcOffset, int[] shape, int[] srcStrides, Storage dst, int dstOffset,
                            int[] dstStrides) {
        ClStorage s = cl(src);
        ClStorage d = cl(dst);
        int[][] merged = Strides.coalesce(shape, srcStrides, dstStrides);
        String kernel = "copy_strided_" + (s.dtype() == DType.INT32 ? "i" : "f") + (d.dtype() == DType.INT32 ? "i" : "f");
        launch(kernel, Strides.runs(merged[0]), s, srcOffset, d, dstOffset, merged[0].length, int8(merged[0]),
                int8(merged[1]), int8(merged[2]));
    }

    @Override
    public void unary(UnaryOp op, Storage x, Storage out) {
        int code = switch (op) {
            case NEG -> 0;
            case EXP -> 1;
            case LOG -> 2;
            case TANH -> 3;
            case SIGMOID -> 4;
            case RELU -> 5;
            case SQRT -> 6;
            case ABS -> 7;
            case RECIPROCAL -> 8;
            case STEP -> 9;
            case ERF -> 10;
        };
        launch("unary", x.size(), cl(x), cl(out), code);
    }

    @Override
    public void binary(BinaryOp op, Storage a, int[] aStrides, Storage b, int[] bStrides, Storage out, int[] outShape) {
        int code = switch (op) {
            case ADD -> 0;
            case SUB -> 1;
            case MUL -> 2;
            case DIV -> 3;
            case POW -> 4;
            case MAX -> 5;
            case MIN -> 6;
            case EQ -> 7;
            case GT -> 8;
        };
        int[][] merged = Strides.coalesce(outShape, aStrides, bStrides);
        if (Strides.count(outShape) == 0) {
            return;
        }
        launch("binary", Strides.runs(merged[0]), cl(a), cl(b), cl(out), code, merged[0].length, int8(merged[0]),
                int8(merged[1]), int8(merged[2]));
    }

    @Override
    public void reduce(ReduceOp op, Storage x, int outer, int axis, int inner, Storage out) {
        launch("reduce", outer * inner, cl(x), cl(out), op == ReduceOp.SUM ? 0 : 1, axis, inner);
    }

    @Override
    public void matmul(Storage a, Storage b, Storage c, MatmulShape s) {
        if (rowsMatmul) {
            matmulOnCpu(cl(a), cl(b), cl(c), s);
            return;
        }
        long[] global = {
                (long) ceilDiv(s.n(), MATMUL_TILE) * MATMUL_THREADS,
                (long) ceilDiv(s.m(), MATMUL_TILE) * MATMUL_THREADS,
                s.batch()};
        long[] local = {MATMUL_THREADS, MATMUL_THREADS, 1};
        launch("matmul", global, local, cl(a), cl(b), cl(c), s.m(), s.n(), s.k(), s.transA() ? 1 : 0,
                s.transB() ? 1 : 0, s.aBatchStride(), s.bBatchStride(), s.accumulate() ? 1 : 0);
    }

    /**
     * On a CPU device the register-blocked kernel wins by far over local-memory tiles. It reads A row-major (a
     * transposed A is copied first) and B packed into panels of 16 columns (either layout; O(kn) beside the O(mnk)
     * product).
     */
    private void matmulOnCpu(ClStorage a, ClStorage b, ClStorage c, MatmulShape s) {
        ClStorage rowMajorA = s.transA() ? transposed(a, s.aBatchStride(), s.batch(), s.k(), s.m()) : a;
        int bBatches = s.bBatchStride() == 0 ? 1 : s.batch();
        int panels = ceilDiv(s.n(), MATMUL_PANEL);
        ClStorage packedB = create(DType.FLOAT32, bBatches * panels * s.k() * MATMUL_PANEL);
        try {
            launch("pack_b_panels", new long[] {panels, s.k(), bBatches}, null, b, s.k(), s.n(), s.transB() ? 1 : 0,
                    s.bBatchStride(), packedB);
            int aStride = s.transA() ? (s.aBatchStride() == 0 ? 0 : s.m() * s.k()) : s.aBatchStride();
            int bStride = s.bBatchStride() == 0 ? 0 : panels * s.k() * MATMUL_PANEL;
            long[] global = {panels, ceilDiv(s.m(), 4 * MATMUL_ROW_TILES), s.batch()};
            launch("matmul_rows", global, null, rowMajorA, packedB, c, s.m(), s.n(), s.k(), aStride, bStride,
                    s.accumulate() ? 1 : 0);
        } finally {
            if (rowMajorA != a) {
                release(rowMajorA);
            }
            release(packedB);
        }
    }

    /** The (batches of) rows × cols matrices of x, stored transposed, as dense row-major copies. */
    private ClStorage transposed(ClStorage x, int batchStride, int batch, int rows, int cols) {
        int batches = batchStride == 0 ? 1 : batch;
        ClStorage out = create(DType.FLOAT32, batches * rows * cols);
        int[] shape = {batches, cols, rows};
        int[][] merged = Strides.coalesce(shape, new int[] {batchStride, 1, cols}, new int[] {rows * cols, rows, 1});
        launch("copy_strided_ff", Strides.runs(merged[0]), x, 0, out, 0, merged[0].length, int8(merged[0]),
                int8(merged[1]), int8(merged[2]));
        return out;
    }

    @Override
    public void gather(Storage table, int columns, Storage indices, Storage out) {
        launch("gather", indices.size() * columns, cl(table), columns, cl(indices), cl(out));
    }

    @Override
    public void scatterAdd(Storage src, int columns, Storage indices, Storage table) {
        launch("scatter_add", columns, cl(src), columns, cl(indices), indices.size(), cl(table));
    }

    // ---------------------------------------------------------------- fused kernels

    @Override
    public KernelRegistry kernels() {
        return kernels;
    }

    /** Every fused operation kernels.cl accelerates, bound to this device. */
    private KernelRegistry registerKernels() {
        return KernelRegistry.builder()
                .register(Softmax.OP, new Softmax.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out, int rows, int cols) {
                        launch("softmax", rows, cl(x), cl(out), cols, 0);
                    }

                    @Override
                    public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                        launch("softmax_backward", rows, cl(y), cl(dy), cl(dx), cols, 0);
                    }
                })
                .register(LogSoftmax.OP, new LogSoftmax.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out, int rows, int cols) {
                        launch("softmax", rows, cl(x), cl(out), cols, 1);
                    }

                    @Override
                    public void backward(Storage y, Storage dy, Storage dx, int rows, int cols) {
                        launch("softmax_backward", rows, cl(y), cl(dy), cl(dx), cols, 1);
                    }
                })
                .register(LayerNorm.OP, new LayerNorm.Kernel() {
                    @Override
                    public void forward(Storage x, Storage gamma, Storage beta, Storage out, Storage mean,
                                        Storage rstd, int rows, int cols, float eps) {
                        launch("layer_norm", rows, cl(x), cl(gamma), cl(beta), cl(out), cl(mean), cl(rstd), cols, eps);
                    }

                    @Override
                    public void backward(Storage x, Storage gamma, Storage mean, Storage rstd, Storage dy,
                                         Storage dx, Storage dgamma, Storage dbeta, int rows, int cols) {
                        launch("layer_norm_backward_input", rows, cl(x), cl(gamma), cl(mean), cl(rstd), cl(dy), cl(dx),
                                cols);
                        launch("layer_norm_backward_params", cols, cl(x), cl(mean), cl(rstd), cl(dy), cl(dgamma),
                                cl(dbeta), rows, cols);
                    }
                })
                .register(CrossEntropy.OP, new CrossEntropy.Kernel() {
                    @Override
                    public void forward(Storage logits, Storage targets, Storage rowLoss, Storage rowLse, int rows,
                                        int cols, int ignoreIndex) {
                        launch("cross_entropy", rows, cl(logits), cl(targets), cl(rowLoss), cl(rowLse), cols,
                                ignoreIndex);
                    }

                    @Override
                    public void backward(Storage logits, Storage targets, Storage rowLse, Storage dlogits,
                                         float scale, int rows, int cols, int ignoreIndex) {
                        launch("cross_entropy_backward", rows * cols, cl(logits), cl(targets), cl(rowLse), cl(dlogits),
                                scale, cols, ignoreIndex);
                    }
                })
                .register(Gelu.OP, new Gelu.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out) {
                        launch("gelu", x.size(), cl(x), cl(out));
                    }

                    @Override
                    public void backward(Storage x, Storage dy, Storage dx) {
                        launch("gelu_backward", x.size(), cl(x), cl(dy), cl(dx));
                    }
                })
                .register(GeluErf.OP, new GeluErf.Kernel() {
                    @Override
                    public void forward(Storage x, Storage out) {
                        launch("gelu_erf", x.size(), cl(x), cl(out));
                    }

                    @Override
                    public void backward(Storage x, Storage dy, Storage dx) {
                        launch("gelu_erf_backward", x.size(), cl(x), cl(dy), cl(dx));
                    }
                })
                .register(AdamUpdate.OP, this::adamUpdate)
                .register(Attention.OP, new Attention.Kernel() {
                    @Override
                    public void forward(Storage q, Storage k, Storage v, Storage out, Storage lse,
                                        AttentionShape shape) {
                        attention(q, k, v, out, lse, shape);
                    }

                    @Override
                    public void backward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                                         Storage dq, Storage dk, Storage dv, AttentionShape shape) {
                        attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, shape);
                    }
                })
                .register(LstmCell.OP, new LstmCell.Kernel() {
                    @Override
                    public void forward(Storage gates, Storage cPrev, Storage h, Storage c, Storage activated,
                                        int batch, int hidden) {
                        launch("lstm_cell", batch * hidden, cl(gates), cl(cPrev), cl(h), cl(c), cl(activated), hidden);
                    }

                    @Override
                    public void backward(Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc,
                                         Storage dGates, Storage dCPrev, int batch, int hidden) {
                        launch("lstm_cell_backward", batch * hidden, cl(activated), cl(cPrev), cl(c), cl(dh), cl(dc),
                                cl(dGates), cl(dCPrev), hidden);
                    }
                })
                .build();
    }

    private void adamUpdate(Storage param, Storage grad, Storage m, Storage v, AdamStep s) {
        // constants rounded from double on the host, as the CPU backend and PyTorch round them
        float decayFactor = s.decoupled() ? (float) (1 - s.lr() * s.weightDecay()) : 1f;
        float l2 = s.decoupled() ? 0f : (float) s.weightDecay();
        float stepSize = (float) (s.lr() / (1.0 - Math.pow(s.beta1(), s.step())));
        float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(s.beta2(), s.step()));
        launch("adam", param.size(), cl(param), cl(grad), cl(m), cl(v), (float) s.beta1(), (float) s.beta2(),
                (float) (1 - s.beta1()), (float) (1 - s.beta2()), decayFactor, l2, stepSize, bc2Sqrt, (float) s.eps());
    }

    private void attention(Storage q, Storage k, Storage v, Storage out, Storage lse, AttentionShape s) {
        if (s.headDim() > MAX_HEAD) {
            Attention.OP.composition(this).forward(q, k, v, out, lse, s);
            return;
        }
        ClStorage offsets = (ClStorage) upload(s.queryOffsets());
        ClStorage lengths = (ClStorage) upload(s.keyLengths());
        try {
            launchSmallGroups("attention", s.batchHeads() * s.queries(), cl(q), cl(k), cl(v), cl(out), cl(lse),
                    offsets, lengths, s.heads(), s.queries(), s.keys(), s.headDim(), s.scale(), s.causal() ? 1 : 0);
        } finally {
            release(offsets);
            release(lengths);
        }
    }

    private void attentionBackward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                                   Storage dq, Storage dk, Storage dv, AttentionShape s) {
        if (s.headDim() > MAX_HEAD) {
            Attention.OP.composition(this).backward(q, k, v, out, lse, dout, dq, dk, dv, s);
            return;
        }
        int rows = s.batchHeads() * s.queries();
        ClStorage rowTerm = create(DType.FLOAT32, rows);
        ClStorage offsets = (ClStorage) upload(s.queryOffsets());
        ClStorage lengths = (ClStorage) upload(s.keyLengths());
        int causal = s.causal() ? 1 : 0;
        try {
            launch("attention_row_dot", rows, cl(out), cl(dout), rowTerm, s.headDim());
            launchSmallGroups("attention_backward_query", rows, cl(q), cl(k), cl(v), cl(lse), cl(dout), rowTerm,
                    cl(dq), offsets, lengths, s.heads(), s.queries(), s.keys(), s.headDim(), s.scale(), causal);
            launchSmallGroups("attention_backward_key", s.batchHeads() * s.keys(), cl(q), cl(k), cl(v), cl(lse),
                    cl(dout), rowTerm, cl(dk), cl(dv), offsets, lengths, s.heads(), s.queries(), s.keys(),
                    s.headDim(), s.scale(), causal);
        } finally {
            release(rowTerm);
            release(offsets);
            release(lengths);
        }
    }

    // ---------------------------------------------------------------- launching

    private void launch(String name, int global, Object... args) {
        if (global > 0) {
            launch(name, new long[] {global}, null, args);
        }
    }

    /** Launches in work-groups of at most {@link #SMALL_GROUP} items (the largest power of two dividing global). */
    private void launchSmallGroups(String name, int global, Object... args) {
        if (global > 0) {
            int group = Math.min(SMALL_GROUP, Integer.lowestOneBit(global));
            launch(name, new long[] {global}, new long[] {group}, args);
        }
    }

    /** Sets the arguments and enqueues; kernels are shared objects, so argument setting and enqueueing are atomic. */
    private void launch(String name, long[] global, long[] local, Object... args) {
        for (long g : global) {
            if (g == 0) {
                return;
            }
        }
        cl_kernel kernel = device.kernel(name);
        synchronized (kernel) {
            run(name, () -> {
                for (int i = 0; i < args.length; i++) {
                    setArgument(kernel, i, args[i]);
                }
                return clEnqueueNDRangeKernel(device.queue, kernel, global.length, null, global, local, 0, null, null);
            });
        }

    }

    private static void setArgument(cl_kernel kernel, int index, Object value) {
        switch (value) {
            case ClStorage s -> clSetKernelArg(kernel, index, Sizeof.cl_mem, Pointer.to(s.memory));
            case Integer i -> clSetKernelArg(kernel, index, Sizeof.cl_int, Pointer.to(new int[] {i}));
            case Float f -> clSetKernelArg(kernel, index, Sizeof.cl_float, Pointer.to(new float[] {f}));
            case Long l -> clSetKernelArg(kernel, index, Sizeof.cl_long, Pointer.to(new long[] {l}));
            case int[] vector -> clSetKernelArg(kernel, index, (long) Sizeof.cl_int * MAX_RANK, Pointer.to(vector));
            default -> throw new IllegalArgumentException("kernel argument " + value);
        }
    }

    private <T> T run(String what, java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (CLException e) {
            throw new KilnException("opencl: " + what + " failed on " + device.found.label() + ": " + e.getMessage(), e);
        }
    }

    private ClStorage cl(Storage storage) {
        if (!(storage instanceof ClStorage s) || s.backend() != this) {
            throw new KilnException("opencl backend: a storage of another backend (" + storage.backend().id() + ")");
        }
        if (s.isReleased()) {
            throw new KilnException("opencl backend: a released storage was used");
        }
        return s;
    }

    private static int[] int8(int[] values) {
        if (values.length > MAX_RANK) {
            throw new KilnException("opencl backend: " + values.length + " dimensions after merging; at most "
                    + MAX_RANK + " are supported");
        }
        int[] padded = new int[MAX_RANK];
        System.arraycopy(values, 0, padded, 0, values.length);
        return padded;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
