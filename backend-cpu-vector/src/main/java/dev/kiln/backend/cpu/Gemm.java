package dev.kiln.backend.cpu;

import static dev.kiln.backend.cpu.Vectors.F;
import static dev.kiln.backend.cpu.Vectors.LANES;

import dev.kiln.api.backend.MatmulShape;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Single-precision matrix multiply in the Goto/BLIS shape: B is packed once per (kc × nc) block into column panels
 * of {@code nr}, A once per (mc × kc) block into row panels of {@link #MR}, and a register-tiled micro-kernel computes
 * MR × nr of C from them with FMAs. Packing reads either layout, so transposed operands cost nothing extra; partial
 * tiles are zero-padded in the packs and clipped on store, so any M, N, K works.
 *
 * <p>A large product is cut into one sub-product per thread (a grid over C's rows and columns), and each thread runs
 * the whole blocked algorithm on its part with its own packs, without a barrier. (Sharing one packed B between the
 * threads, with a barrier per block, ran 20–25 % slower on two cores: the pack travels between the cores' caches.) Only
 * each part's last step is shared: a thread done with its own part takes blocks of rows from it ({@link Part}). Many
 * small products run one per task. Products with at most {@link #SMALL_M}
 * rows (generation, batch 1) skip packing and stream B once.
 *
 * <p>Where this module may ask where arrays are ({@link ArrayAlignment}), packed B starts on a cache line and a large
 * product numbers C's columns from C's first line, so that the kernel's vectors neither load nor store across two
 * lines.
 */
final class Gemm {
    /**
     * Rows of a micro-tile. 4 × (2 vectors) is eight accumulators, as many as the FMA latency needs, and reaches the
     * core's FMA peak in L1. Measured, none faster on two threads: 5 × 2 (85 against 82 GFLOP/s on one thread, equal
     * on two); 6 × 2, whose twelve accumulators, two B vectors and broadcasts exceed AVX2's sixteen registers, so C2
     * keeps an accumulator on the stack (and, with two store paths after the loop, it boxed one per iteration: 31
     * GFLOP/s); 3 × 3, no faster.
     */
    static final int MR = 4;
    /** Columns of a micro-tile, and the row stride of a packed B panel, on the vector path: two vectors. */
    private static final int PANEL = 2 * LANES;
    /**
     * Depth of a block of k. Each block after the first reads C once more, and every block ends each kernel with a
     * pipeline drain, so a deep one pays although B's panel (KC × 2 vectors, 64 KB) does not fit in L1 and streams
     * from L2. Measured: 768 against 256 was +3–5 % at n = 1024 and 2048 (2 threads). 1024 against 768, both touching
     * C only where a block adds to it ({@link #touch}), is +4–5 % at n = 1024 on 2 threads (one block of k instead of
     * two) and at n = 2048 on one thread, and equal at 2048 on two. 2048, with MC 24 or 36 so that A's block stays in
     * L2, is 5–11 % slower. With 512-bit vectors the panel is twice as wide (128 KB at 1024 deep), and the kernel
     * asks for B (128 bytes per k) faster than L2 gives it; 256 deep keeps the panel (32 KB) in L1 for every row
     * panel of the block that reuses it (docs/benchmarks.md, "512-bit GEMM").
     */
    static final int KC = LANES >= 16 ? 256 : 1024;
    static final int MC = 72;   // a multiple of MR, and of 8 so that a transposed block packs in registers
    /** Floats from one packed A panel (MR rows × KC, k-major) to the next. */
    private static final int A_PANEL = MR * KC;
    /**
     * Most columns of a block of B. The packed block (KC × NC floats, 2 MB) is read again for every block of A's rows,
     * so it has to stay in L3, which this machine's other tenants share; a 2048-column one (8 MB, one thread at n =
     * 2048) came from memory, and the first kernel on each panel waited for it. 512 against 4096 (measured in
     * alternation, three JVMs): +6–8 % at n = 2048 on two threads, +7–13 % on one; equal at 1024 on two threads,
     * where a thread's part is 512 columns anyway. Smaller still is slower (256: A's block is packed once per block
     * of columns).
     */
    static final int NC = 512;
    static final int SMALL_M = 16;
    /**
     * Products with at most this many columns of C or this deep a k (LoRA's rank-r products: x·Aᵀ, its gradients)
     * take the narrow path: packing panels for them costs more than the product, and a micro-tile of 2 vectors
     * leaves most of its lanes idle on 8 columns.
     */
    static final int NARROW = 16;
    /** Rows of C per task on the narrow path. */
    private static final int NARROW_GRAIN_ROWS = 64;
    /**
     * Up to this many rows (one or two blocks of A), a row-major B is packed a panel at a time, just before the
     * panel's kernels, instead of a whole (kc × nc) block up front: the panel (64 KB) is still in L2 when the kernels
     * read it, where a 2 MB block would have gone out to L3 and come back, which a product with few rows (a recurrent
     * step, a small batch) cannot amortise. (Reading B in place at its row stride instead needs a second kernel loop,
     * see {@link #kernel}.)
     */
    static final int PANELWISE_B_MAX_M = 2 * MC;
    /** Below this many flops a product runs on one thread. */
    private static final long PARALLEL_FLOPS = 1L << 21;
    /**
     * From this many flops (~6 ms on two cores) a split product shares its parts' last steps ({@link Part}). A block
     * taken from another part reads that part's packed B from the other core's cache, so it runs slower than its owner
     * would run it, and waiting for it can cost more than the imbalance it removes: sharing every product made the
     * weight gradients of an LSTM step (512 × 2048 × 16, 0.3 ms) 6 % slower.
     */
    static final long SHARE_FLOPS = 1L << 30;
    /** From this many flops (~0.3 ms) a product asks where C is, to turn its columns onto C's cache lines. */
    private static final long ROTATE_FLOPS = 1L << 25;
    /**
     * The same for the few-row products (decoding), which only stream B: splitting B's columns pays off much sooner,
     * since a loop on the spinning pool costs a few microseconds and B comes from memory.
     */
    private static final long SMALL_M_PARALLEL_FLOPS = 1L << 16;
    /** Columns of B per chunk of a few-row product: a few cache lines per row, enough to hide the chunk overhead. */
    private static final int SMALL_M_GRAIN_COLUMNS = 64;

    /**
     * A packed B block at least this large (256 KB) asks where its buffer is before it is packed, so that its panels
     * start on a cache line ({@link ArrayAlignment}): one downcall per block, against tens of µs to pack it.
     */
    private static final int ALIGN_PROBE_FLOATS = 1 << 16;

    /** Per-thread pack buffers, grown on demand and reused: the hot path allocates nothing. */
    private static final class Workspace {
        float[] packedA = new float[0];
        /** Packed B from index {@link #bStart}, a cache-line boundary where known; one line of slack at the end. */
        float[] packedB = new float[0];
        int bStart;
        float[] tile = new float[0];
        float[] row = new float[0];
        /** The narrow path's copy of its small operand in the layout it reads (shared with the tasks it starts). */
        float[] narrowOperand = new float[0];
        /** A narrow-path task's own rows of A, or its accumulators. */
        float[] narrowRows = new float[0];

        /** The few-rows paths' block sums, a panel of Bᵀ's columns, and one vector's lanes. */
        float[] rowSums = new float[0];
        float[] panel = new float[0];
        float[] lane = new float[0];

        float[] rowSums(int floats) {
            if (rowSums.length < floats) {
                rowSums = new float[floats];
            }
            return rowSums;
        }

        float[] panel(int floats) {
            if (panel.length < floats) {
                panel = new float[floats];
            }
            return panel;
        }

        float[] lane(int floats) {
            if (lane.length < floats) {
                lane = new float[floats];
            }
            return lane;
        }

        float[] narrowOperand(int floats) {
            if (narrowOperand.length < floats) {
                narrowOperand = new float[floats];
            }
            return narrowOperand;
        }

        float[] narrowRows(int floats) {
            if (narrowRows.length < floats) {
                narrowRows = new float[floats];
            }
            return narrowRows;
        }

        /**
         * Makes room for {@code floats} of packed B (growing to {@code capacity} if needed) and moves {@link #bStart}
         * to the first cache line of the buffer, asking again for a large block: the collector may have moved it.
         */
        void reservePackedB(int floats, int capacity) {
            if (packedB.length < floats + ArrayAlignment.LINE_FLOATS) {
                packedB = new float[capacity + ArrayAlignment.LINE_FLOATS];
                bStart = ArrayAlignment.firstLineIndex(packedB);
            } else if (floats >= ALIGN_PROBE_FLOATS) {
                bStart = ArrayAlignment.firstLineIndex(packedB);
            }
        }
    }

    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private final Parallel parallel;
    private final boolean vector;
    private final int nr;
    private final LongAdder helpedBlocks = new LongAdder();

    Gemm(Parallel parallel, boolean vector) {
        this.parallel = parallel;
        this.vector = vector;
        this.nr = vector ? PANEL : 8;
    }

    void multiply(float[] a, float[] b, float[] c, MatmulShape s) {
        int m = s.m();
        int n = s.n();
        int k = s.k();
        long flopsEach = 2L * m * n * k;
        if (m <= SMALL_M) {
            for (int i = 0; i < s.batch(); i++) {
                smallM(a, i * s.aBatchStride(), b, i * s.bBatchStride(), c, i * m * n, m, n, k,
                        s.transA(), s.transB(), s.accumulate());
            }
            return;
        }
        if ((n <= NARROW || k <= NARROW) && m > NARROW) {
            for (int i = 0; i < s.batch(); i++) {
                narrow(a, i * s.aBatchStride(), b, i * s.bBatchStride(), c, i * m * n, m, n, k, s.transA(),
                        s.transB(), s.accumulate());
            }
            return;
        }
        if (s.batch() > 1 && flopsEach < 16 * PARALLEL_FLOPS) {
            parallel.forRange(s.batch(), (int) Math.max(1, PARALLEL_FLOPS / flopsEach), (start, end) -> {
                for (int i = start; i < end; i++) {
                    blocked(product(a, b, c, s, i, false), 0, m, 0, n, null);
                }
            });
            return;
        }
        for (int i = 0; i < s.batch(); i++) {
            Product p = product(a, b, c, s, i, vector && flopsEach >= ROTATE_FLOPS);
            if (flopsEach >= PARALLEL_FLOPS && parallel.threads() > 1) {
                split(p);
            } else {
                blocked(p, 0, m, 0, n, null);
            }
        }
    }

    /**
     * One product C (m×n) (+)= op(A)·op(B), with the operands' offsets into their arrays. The blocked path works on
     * C's columns turned by {@code rotation}: its column j is C's column (j + rotation) mod n (see
     * {@link #columnRotation}).
     */
    private record Product(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                           boolean transA, boolean transB, boolean accumulate, int rotation) {
        /** C's (and B's) column for the blocked path's column j. */
        int column(int j) {
            int turned = j + rotation;
            return turned < n ? turned : turned - n;
        }

        /** Whether the panel of nr columns from column j0 wraps around C's rows (only ever the last panel). */
        boolean wraps(int j0, int nr) {
            return rotation != 0 && j0 + nr > n - rotation && j0 < n - rotation;
        }
    }

    /** Product i of the batch s, its columns turned to C's cache lines if {@code align}. */
    private Product product(float[] a, float[] b, float[] c, MatmulShape s, int i, boolean align) {
        int cOff = i * s.m() * s.n();
        int rotation = align ? columnRotation(c, cOff, s.n()) : 0;
        return new Product(a, i * s.aBatchStride(), b, i * s.bBatchStride(), c, cOff, s.m(), s.n(), s.k(),
                s.transA(), s.transB(), s.accumulate(), rotation);
    }

    /**
     * How far to turn C's columns so that every full panel's tile rows start on a cache line: the first column of
     * C's rows that does, where all rows share it (n a multiple of a line), else 0. The columns before it and the
     * last ones then form one panel that wraps around the rows, so the count of panels stays the same. (Measured
     * against packed B aligned alone, C placed 16 bytes past a line: +1.1 % at n = 1024, +0.9 % at 2048.)
     */
    private int columnRotation(float[] c, int cOff, int n) {
        if (n % ArrayAlignment.LINE_FLOATS != 0 || n < 2 * nr || !ArrayAlignment.available()) {
            return 0;
        }
        return Math.floorMod(ArrayAlignment.firstLineIndex(c) - cOff, ArrayAlignment.LINE_FLOATS);
    }

    // ------------------------------------------------------------------------------------------ packed, blocked path

    /**
     * Runs p as rowParts × colParts independent sub-products, one per thread. Of the grids with that many parts, the
     * one whose parts are closest to square packs the least: each part packs its rows of A and its columns of B.
     */
    private void split(Product p) {
        int threads = parallel.threads();
        int rowUnits = (p.m() + MR - 1) / MR;
        int colUnits = (p.n() + nr - 1) / nr;
        int rowParts = 1;
        long best = -1;
        for (int rows = 1; rows <= threads; rows++) {
            int cols = threads / rows;
            if (rows * cols != threads || rows > rowUnits || cols > colUnits) {
                continue;
            }
            long side = Math.min((long) rowUnits * MR / rows, (long) colUnits * nr / cols);
            if (side > best) {
                best = side;
                rowParts = rows;
            }
        }
        if (best < 0) {                                      // too small to cut evenly: cut the longer side only
            rowParts = rowUnits >= colUnits ? Math.min(threads, rowUnits) : 1;
        }
        int rowsOfParts = rowParts;
        int colsOfParts = best < 0 && rowParts == 1 ? Math.min(threads, colUnits) : threads / rowParts;
        Part[] parts = new Part[rowsOfParts * colsOfParts];
        for (int t = 0; t < parts.length; t++) {
            int r = t / colsOfParts;
            int q = t % colsOfParts;
            parts[t] = new Part((int) ((long) r * rowUnits / rowsOfParts) * MR,
                    Math.min(p.m(), (int) ((long) (r + 1) * rowUnits / rowsOfParts) * MR),
                    (int) ((long) q * colUnits / colsOfParts) * nr,
                    Math.min(p.n(), (int) ((long) (q + 1) * colUnits / colsOfParts) * nr));
        }
        boolean share = 2L * p.m() * p.n() * p.k() >= SHARE_FLOPS;
        parallel.forRange(parts.length, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                Part part = parts[t];
                part.started = true;
                try {
                    blocked(p, part.i0, part.i1, part.j0, part.j1, share ? part : null);
                } finally {
                    part.finished = true;                    // also on failure, so that no helper waits for it
                }
            }
            if (share) {
                helpWithLastSteps(p, parts);
            }
        });
    }

    /**
     * One thread's share of a split product. Its last block of columns and of k is published as a {@link LastStep},
     * whose blocks of rows any thread that has finished its own part takes as well: the parts are equal, but the
     * cores are not (a host's other tenants, one thread starting later), and without this the first to finish waited
     * for the other, 0.7–2.3 % of a product at n = 2048.
     */
    private static final class Part {
        final int i0;
        final int i1;
        final int j0;
        final int j1;
        volatile boolean started;
        volatile boolean finished;
        volatile LastStep last;

        Part(int i0, int i1, int j0, int j1) {
            this.i0 = i0;
            this.i1 = i1;
            this.j0 = j0;
            this.j1 = j1;
        }
    }

    /**
     * A part's last (kc × nc) block of B, packed by its owner, and the blocks of rows left to compute against it, taken
     * one at a time by the owner and by helpers alike. Every block of C before it is done by then (only the owner
     * works on a part before its last step), so a helper's block adds to C in the same order the owner's would.
     */
    private static final class LastStep {
        final float[] packedB;
        final int bStart;
        final int jc;
        final int nc;
        final int pc;
        final int kc;
        final boolean add;
        final int i0;
        final int i1;
        private final AtomicInteger taken = new AtomicInteger();
        private final AtomicInteger completed = new AtomicInteger();

        LastStep(float[] packedB, int bStart, int jc, int nc, int pc, int kc, boolean add, int i0, int i1) {
            this.packedB = packedB;
            this.bStart = bStart;
            this.jc = jc;
            this.nc = nc;
            this.pc = pc;
            this.kc = kc;
            this.add = add;
            this.i0 = i0;
            this.i1 = i1;
        }

        /** The first row of a block of rows nobody has taken yet, or i1 when none is left. */
        int take() {
            return (int) Math.min(i1, i0 + (long) MC * taken.getAndIncrement());
        }

        /**
         * Waits until every block of rows is computed, whoever took it. Only then may the owner pack into its buffer
         * again (for a next part, when the pool gives it two) and call its part finished.
         */
        void awaitCompletion() {
            int blocks = (i1 - i0 + MC - 1) / MC;
            while (completed.get() < blocks) {
                Thread.onSpinWait();
            }
        }
    }

    /**
     * After its own part: takes blocks of rows from the last step of every part still running (waiting for it to
     * reach that step). A part nobody has started yet is left alone, so a worker that never arrives cannot hold the
     * loop: the caller takes that part as its next chunk.
     */
    private void helpWithLastSteps(Product p, Part[] parts) {
        Workspace w = WORKSPACE.get();
        for (Part part : parts) {
            if (!part.started) {
                continue;
            }
            LastStep step;
            while ((step = part.last) == null && !part.finished) {
                Thread.onSpinWait();
            }
            if (step != null) {
                helpedBlocks.add(computeBlocks(p, w, step));
            }
        }
    }

    /** Takes and computes the step's blocks of rows until none is left; returns how many it computed. */
    private int computeBlocks(Product p, Workspace w, LastStep step) {
        int blocks = 0;
        for (int ic; (ic = step.take()) < step.i1; blocks++) {
            try {
                computeBlock(p, w, step.packedB, step.bStart, false, ic, Math.min(MC, step.i1 - ic), step.jc,
                        step.nc, step.pc, step.kc, step.add);
            } finally {
                step.completed.incrementAndGet();           // also on failure, so that the owner does not wait for it
            }
        }
        return blocks;
    }

    /** Blocks of rows computed by a thread other than their part's owner, so far (for tests). */
    long helpedBlocks() {
        return helpedBlocks.sum();
    }

    /**
     * C[i0..i1, j0..j1) (+)= A[i0..i1, :]·B[:, j0..j1) on the calling thread, all of it unless the part is given: then
     * its last step is shared ({@link Part}).
     */
    private void blocked(Product p, int i0, int i1, int j0, int j1, Part part) {
        Workspace w = WORKSPACE.get();
        boolean panelwise = !p.transB() && i1 - i0 <= PANELWISE_B_MAX_M;
        if (w.tile.length < MR * nr) {
            w.tile = new float[MR * nr];
        }
        // columns in blocks of at most NC, as equal as whole panels allow: 600 columns as 304 + 296, not 512 + 88,
        // whose second block would pack all of A again for 88 columns
        int blocksN = (j1 - j0 + NC - 1) / NC;
        int blockWidth = ((j1 - j0 + blocksN - 1) / blocksN + nr - 1) / nr * nr;
        for (int jc = j0; jc < j1; jc += blockWidth) {
            int nc = Math.min(blockWidth, j1 - jc);
            int panels = (nc + nr - 1) / nr;
            for (int pc = 0; pc < p.k(); pc += KC) {
                int kc = Math.min(KC, p.k() - pc);
                boolean add = p.accumulate() || pc > 0;
                if (!panelwise) {
                    w.reservePackedB(panels * nr * kc, panels * nr * KC);
                    packB(p, pc, kc, jc, nc, w.packedB, w.bStart);
                }
                if (part != null && !panelwise && jc + blockWidth >= j1 && pc + KC >= p.k()) {
                    LastStep step = new LastStep(w.packedB, w.bStart, jc, nc, pc, kc, add, i0, i1);
                    part.last = step;
                    computeBlocks(p, w, step);
                    step.awaitCompletion();
                    continue;
                }
                for (int ic = i0; ic < i1; ic += MC) {
                    computeBlock(p, w, w.packedB, w.bStart, panelwise, ic, Math.min(MC, i1 - ic), jc, nc, pc, kc,
                            add);
                }
            }
        }
    }

    /**
     * One (mc × kc) block of A against the (kc × nc) block of B, packed from {@code bStart} in {@code packedB}, or, if
     * {@code panelwise}, packed here a panel at a time into the workspace.
     */
    private void computeBlock(Product p, Workspace w, float[] packedB, int bStart, boolean panelwise, int ic, int mc,
                              int jc, int nc, int pc, int kc, boolean add) {
        if (w.packedA.length < MC / MR * A_PANEL) {
            w.packedA = new float[MC / MR * A_PANEL];
        }
        float[] packedA = w.packedA;
        packA(p.a(), p.aOff(), p.m(), p.k(), p.transA(), ic, mc, pc, kc, packedA);
        int n = p.n();
        float[] c = p.c();
        int panels = (nc + nr - 1) / nr;
        for (int panel = 0; panel < panels; panel++) {
            int j0 = jc + panel * nr;
            int cols = Math.min(nr, jc + nc - j0);
            int column = p.column(j0);                        // of C and B
            boolean wraps = p.wraps(j0, nr);
            int split = wraps ? n - column : nr;              // columns before the wrap to the row's start
            float[] bData;
            int bBase;
            if (!panelwise) {
                bData = packedB;
                bBase = bStart + panel * nr * kc;
            } else {
                w.reservePackedB(nr * kc, nr * KC);
                packB(p, pc, kc, j0, cols, w.packedB, w.bStart);
                bData = w.packedB;
                bBase = w.bStart;
            }
            boolean nextPanelFull = j0 + 2 * nr <= jc + nc && mc >= MR && !p.wraps(j0 + nr, nr);
            for (int ir = 0; ir < mc; ir += MR) {
                int rows = Math.min(MR, mc - ir);
                int cBase = p.cOff() + (ic + ir) * n + column;
                // the full C tile that the next call will add to, to be touched early (-1: none, a partial or
                // wrapping one, or this block overwrites C and reads none of it)
                int next = !add ? -1 : ir + 2 * MR <= mc && cols == nr && !wraps ? cBase + MR * n
                        : ir + MR >= mc && nextPanelFull ? p.cOff() + ic * n + p.column(j0 + nr) : -1;
                int aPanel = ir / MR * A_PANEL;              // rows ir .. ir + MR
                if (vector) {
                    kernel(packedA, aPanel, bData, bBase, kc, c, cBase, n, rows, cols, split, add, w.tile, next);
                } else {
                    kernelScalar(packedA, aPanel, bData, bBase, kc, c, cBase, n, rows, cols, add, w.tile);
                }
            }
        }
    }

    /**
     * Panels of MR rows of the (mc × kc) block, k-major: A(ic + i, pc + p) at [(i / MR)·{@link #A_PANEL} + p·MR + i %
     * MR], the rows after mc zero. The kernel then reads the four values it broadcasts for one k from one place, and
     * its loop steps through A and B at constant strides. (A packed as MR rows of stride KC + 16, one array copy per
     * row, is read at four places per k, and its loop, 22 micro-ops per k against 18 now, reached the FMA peak on data
     * in L1 but ran 2–3 % slower in the whole product at n = 2048.) A row-major A is transposed four rows by eight
     * values at a time, a transposed one cut into halves of eight rows, in registers ({@link BlockTranspose}).
     */
    private void packA(float[] a, int aOff, int m, int k, boolean transA, int ic, int mc, int pc, int kc,
                       float[] packed) {
        int panels = (mc + MR - 1) / MR;
        boolean inRegisters = vector && BlockTranspose.SUPPORTED;
        if (!transA) {                                       // A(i, p) = a[i·k + p]
            int blockDepth = inRegisters ? kc - kc % 8 : 0;
            for (int panel = 0; panel < panels; panel++) {
                int base = panel * A_PANEL;
                int rows = Math.min(MR, mc - panel * MR);
                int src = aOff + (ic + panel * MR) * k + pc;
                int p = 0;
                if (rows == MR) {
                    for (; p < blockDepth; p += 8) {
                        BlockTranspose.fourRows(a, src + p, k, packed, base + p * MR);
                    }
                }
                for (; p < kc; p++) {
                    for (int r = 0; r < MR; r++) {
                        packed[base + p * MR + r] = r < rows ? a[src + r * k + p] : 0f;
                    }
                }
            }
        } else {                                             // A(i, p) = a[p·m + i]
            // two panels (eight rows) at a time from one vector per k, along each row of A^T across the block
            int pairs = inRegisters ? mc / (2 * MR) : 0;
            int pairDepth = pairs > 0 ? kc - kc % 2 : 0;
            for (int p = 0; p < pairDepth; p += 2) {
                int src = aOff + (pc + p) * m + ic;
                for (int pair = 0; pair < pairs; pair++) {
                    int base = 2 * pair * A_PANEL + p * MR;
                    BlockTranspose.halves(a, src + 2 * MR * pair, m, packed, base, base + A_PANEL);
                }
            }
            for (int panel = 0; panel < panels; panel++) {   // the rest value by value
                int base = panel * A_PANEL;
                int rows = Math.min(MR, mc - panel * MR);
                for (int p = panel < 2 * pairs ? pairDepth : 0; p < kc; p++) {
                    int src = aOff + (pc + p) * m + ic + panel * MR;
                    for (int r = 0; r < MR; r++) {
                        packed[base + p * MR + r] = r < rows ? a[src + r] : 0f;
                    }
                }
            }
        }
    }

    /**
     * Column panels of nr of the product's B: element (p, j) at [start + panel·nr·kc + p·nr + j], of B's column
     * {@link Product#column}(j); missing columns are zeros. A row-major B's full
     * panels are packed along B's rows, all panels of a row before the next row: the reads are then sequential, which
     * the hardware prefetcher follows, where a panel at a time reads 64 bytes from each of kc rows, every one in another
     * page. (Measured: +1–3 % on the whole product in the harness at n = 1024 and 2048; within JMH's noise.)
     */
    private void packB(Product product, int pc, int kc, int jc, int nc, float[] packed, int start) {
        float[] b = product.b();
        int bOff = product.bOff();
        int n = product.n();
        int k = product.k();
        boolean transB = product.transB();
        int panels = (nc + nr - 1) / nr;
        int firstPanel = 0;
        if (!transB && vector) {                             // full panels: two vector copies per row each
            int fullPanels = nc / nr;
            if (fullPanels > 0 && product.wraps(jc + (fullPanels - 1) * nr, nr)) {
                fullPanels--;                                // the last one wraps around B's rows
            }
            int panelSize = nr * kc;
            int firstColumn = product.column(jc);            // the full panels' columns follow on from it
            for (int p = 0; p < kc; p++) {
                int src = bOff + (pc + p) * n + firstColumn;
                int dst = start + p * nr;
                for (int panel = 0; panel < fullPanels; panel++, src += nr, dst += panelSize) {
                    FloatVector.fromArray(F, b, src).intoArray(packed, dst);
                    FloatVector.fromArray(F, b, src + LANES).intoArray(packed, dst + LANES);
                }
            }
            firstPanel = fullPanels;
        }
        for (int panel = firstPanel; panel < panels; panel++) {
            int j0 = jc + panel * nr;
            int cols = Math.min(nr, jc + nc - j0);
            int base = start + panel * nr * kc;
            int column = product.column(j0);
            if (!transB) {                                   // B(p, j) = b[p·n + j]
                int before = Math.min(cols, n - column);     // the rest wraps to the row's start
                for (int p = 0; p < kc; p++) {
                    int dst = base + p * nr;
                    int row = bOff + (pc + p) * n;
                    System.arraycopy(b, row + column, packed, dst, before);
                    System.arraycopy(b, row, packed, dst + before, cols - before);
                    for (int j = cols; j < nr; j++) {
                        packed[dst + j] = 0f;
                    }
                }
            } else {                                         // B(p, j) = b[j·k + p]
                int p0 = 0;
                if (vector && BlockTranspose.SUPPORTED && cols == nr && !product.wraps(j0, nr)) {
                    // eight of B's columns (rows of b) by eight values of k at a time, in registers, where value by
                    // value each float cost a load, a store to another row of the panel and index arithmetic: a
                    // few-row product packs all of B for little work (an LSTM step's 128 products 16 × 2048 × 512
                    // B^T: 89.9 against 136.2 ms in the harness)
                    p0 = kc - kc % BlockTranspose.SIZE;
                    for (int p = 0; p < p0; p += BlockTranspose.SIZE) {
                        for (int j = 0; j < nr; j += BlockTranspose.SIZE) {
                            BlockTranspose.transpose(b, bOff + (column + j) * k + pc + p, k, packed,
                                    base + p * nr + j, nr);
                        }
                    }
                }
                for (int j = 0; j < cols; j++) {
                    int src = bOff + product.column(j0 + j) * k + pc;
                    for (int p = p0; p < kc; p++) {
                        packed[base + p * nr + j] = b[src + p];
                    }
                }
                for (int j = cols; j < nr; j++) {
                    for (int p = 0; p < kc; p++) {
                        packed[base + p * nr + j] = 0f;
                    }
                }
            }
        }
    }

    /**
     * C[4 × 2·LANES] (+)= A panel · B panel, in eight vector accumulators. This loop is where a large product spends
     * ~90 % of its time. C2 compiles it to 18 micro-ops per k (2 loads of B, 4 broadcasts of A, 8 FMAs, 4 for the
     * indices and the loop): with both strides constant it derives B's index from A's and drops B's bounds checks.
     * (With B's stride a parameter, to read a row-major B in place, the loop took 22, and a second copy of the loop for
     * that case made C2 compile both worse once both ran in one program: a training step's large products ran 35 %
     * slower.)
     */
    private static void kernel(float[] pa, int aOff, float[] pb, int bOff, int kc, float[] c, int cOff, int ldc,
                               int rows, int cols, int split, boolean add, float[] tile, int next) {
        float touched = touch(c, next, ldc);
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        int aEnd = aOff + kc * MR;
        // C2 does not unroll this loop, and a hand-unrolled one gets its loads hoisted and its accumulators spilled
        for (int ai = aOff, bi = bOff; ai < aEnd; ai += MR, bi += PANEL) {
            FloatVector b0 = FloatVector.fromArray(F, pb, bi);
            FloatVector b1 = FloatVector.fromArray(F, pb, bi + LANES);
            FloatVector a0 = FloatVector.broadcast(F, pa[ai]);
            c00 = a0.fma(b0, c00);
            c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(F, pa[ai + 1]);
            c10 = a1.fma(b0, c10);
            c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(F, pa[ai + 2]);
            c20 = a2.fma(b0, c20);
            c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(F, pa[ai + 3]);
            c30 = a3.fma(b0, c30);
            c31 = a3.fma(b1, c31);
        }
        keep(touched);
        if (rows == MR && cols == PANEL && split == PANEL) {
            store(c00, c01, c, cOff, add);
            store(c10, c11, c, cOff + ldc, add);
            store(c20, c21, c, cOff + 2 * ldc, add);
            store(c30, c31, c, cOff + 3 * ldc, add);
            return;
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, LANES);
        c10.intoArray(tile, PANEL);
        c11.intoArray(tile, PANEL + LANES);
        c20.intoArray(tile, 2 * PANEL);
        c21.intoArray(tile, 2 * PANEL + LANES);
        c30.intoArray(tile, 3 * PANEL);
        c31.intoArray(tile, 3 * PANEL + LANES);
        storePartial(tile, PANEL, c, cOff, ldc, rows, 0, Math.min(cols, split), add);
        if (cols > split) {                                  // a wrapping panel: the rest at the row's start
            storePartial(tile, PANEL, c, cOff - ldc, ldc, rows, split, cols, add);
        }
    }

    /**
     * Reads both ends of each row of the C tile at {@code next} (a full tile, or -1 for none), so that its cache lines
     * are on their way while this kernel runs: Java has no prefetch instruction, and without it every kernel waits for
     * its C tile at the end (from L3 at these sizes; walking down C's rows is the worst case). A microbenchmark of that
     * walk: 77–79 GFLOP/s without, 86–88 with (one core). Only blocks that add to C touch it: where a block overwrites
     * C, the stores do not wait for their lines, and a touch would be a load that does (+2–3 % on one core at n = 1024
     * and 2048 without it there).
     */
    private static float touch(float[] c, int next, int ldc) {
        if (next < 0) {
            return 0f;
        }
        int last = PANEL - 1;
        return c[next] + c[next + last] + c[next + ldc] + c[next + ldc + last] + c[next + 2 * ldc]
                + c[next + 2 * ldc + last] + c[next + 3 * ldc] + c[next + 3 * ldc + last];
    }

    /** Consumes a touched value in a way the compiler cannot prove dead, so that the loads stay. */
    private static void keep(float touched) {
        if (Float.floatToRawIntBits(touched) == KEEP_SENTINEL) {
            keptTouch = touched;
        }
    }

    /** A NaN payload no sum of floats produces by chance in practice; the branch is never taken. */
    private static final int KEEP_SENTINEL = 0x7fc0_2a2b;
    @SuppressWarnings("unused")
    private static float keptTouch;

    private static void store(FloatVector v0, FloatVector v1, float[] c, int offset, boolean add) {
        if (add) {
            v0 = v0.add(FloatVector.fromArray(F, c, offset));
            v1 = v1.add(FloatVector.fromArray(F, c, offset + LANES));
        }
        v0.intoArray(c, offset);
        v1.intoArray(c, offset + LANES);
    }

    /** Columns [from, to) of the tile's rows (width apart) to C's rows from cOff (ldc apart). */
    private static void storePartial(float[] tile, int width, float[] c, int cOff, int ldc, int rows, int from, int to,
                                     boolean add) {
        for (int r = 0; r < rows; r++) {
            int dst = cOff + r * ldc;
            int src = r * width;
            for (int j = from; j < to; j++) {
                c[dst + j] = add ? c[dst + j] + tile[src + j] : tile[src + j];
            }
        }
    }

    /** The same tile in plain Java, for {@code vector.bits=0}. */
    private void kernelScalar(float[] pa, int aOff, float[] pb, int bOff, int kc, float[] c, int cOff, int ldc,
                              int rows, int cols, boolean add, float[] tile) {
        java.util.Arrays.fill(tile, 0, MR * nr, 0f);
        for (int p = 0; p < kc; p++) {
            int ai = aOff + p * MR;
            int bi = bOff + p * nr;
            for (int r = 0; r < MR; r++) {
                float av = pa[ai + r];
                int ti = r * nr;
                for (int j = 0; j < cols; j++) {
                    tile[ti + j] += av * pb[bi + j];
                }
            }
        }
        storePartial(tile, nr, c, cOff, ldc, rows, 0, cols, add);
    }

    // ------------------------------------------------------------------------------------------ few rows: stream B

    private void smallM(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                        boolean transA, boolean transB, boolean accumulate) {
        // A's few rows, contiguous (a copy when A is transposed)
        float[] rows = a;
        int rowsOff = aOff;
        if (transA) {
            Workspace w = WORKSPACE.get();
            if (w.row.length < m * k) {
                w.row = new float[m * k];
            }
            for (int i = 0; i < m; i++) {
                for (int p = 0; p < k; p++) {
                    w.row[i * k + p] = a[aOff + p * m + i];
                }
            }
            rows = w.row;
            rowsOff = 0;
        }
        float[] aRows = rows;
        int aRowsOff = rowsOff;
        boolean inParallel = 2L * m * n * k >= SMALL_M_PARALLEL_FLOPS;
        if (transB) {
            // C[i, j] = A_i · B_j, each B row read once: panels of B's rows turned into columns in L1, then every row
            // of A runs the blocked kernel's chain of additions over them (see streamTransposed)
            int step = vector ? LANES : 1;
            int units = (n + step - 1) / step;
            Parallel.RangeBody body = (u0, u1) -> streamTransposed(aRows, aRowsOff, b, bOff, c, cOff, m, n, k,
                    u0 * step, Math.min(n, u1 * step), accumulate);
            if (inParallel) {
                parallel.forRange(units, Math.max(1, 16 / step), body);
            } else {
                body.run(0, units);
            }
            return;
        }
        // C[i, :] = Σ_p A[i, p] · B[p, :]: stream B row by row, each task owning a contiguous range of columns
        int step = vector ? LANES : 1;
        int units = (n + step - 1) / step;
        Parallel.RangeBody body = (u0, u1) -> {
            int j0 = u0 * step;
            int j1 = Math.min(n, u1 * step);
            streamRows(aRows, aRowsOff, b, bOff, c, cOff, m, n, k, j0, j1, accumulate);
        };
        if (inParallel) {
            parallel.forRange(units, Math.max(1, SMALL_M_GRAIN_COLUMNS / step), body);
        } else {
            body.run(0, units);
        }
    }

    /**
     * c[i, j0..j1) (+)= Σ_p a[i, p]·B[p, j0..j1) for every row i < m, reading each row segment of B once. Each element
     * gets the blocked path's additions in the blocked path's order — one chain of fused multiply-adds per block of
     * {@link #KC} from zero, each block's sum added to C — so a row of C is bitwise the same whether it is computed
     * here or among many rows there: decoding results do not depend on how many sequences share a step.
     */
    private void streamRows(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                            int j0, int j1, boolean accumulate) {
        int width = j1 - j0;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int p1 = Math.min(k, p0 + KC);
            boolean into = p0 == 0 && !accumulate;          // this block's sums are C's values, else added to C
            float[] acc = into ? c : WORKSPACE.get().rowSums(m * width);
            for (int i = 0; i < m; i++) {
                int out = into ? cOff + i * n + j0 : i * width;
                java.util.Arrays.fill(acc, out, out + width, 0f);
            }
            streamBlock(a, aOff, b, bOff, acc, into, cOff, m, n, k, j0, j1, p0, p1);
            if (!into) {
                for (int i = 0; i < m; i++) {
                    int out = cOff + i * n + j0;
                    for (int j = 0; j < width; j++) {
                        c[out + j] += acc[i * width + j];
                    }
                }
            }
        }
    }

    /** One block p0..p1 of streamRows' sums into acc: C's own rows when {@code inC}, else rows of j1 - j0. */
    private void streamBlock(float[] a, int aOff, float[] b, int bOff, float[] acc, boolean inC, int cOff, int m,
                             int n, int k, int j0, int j1, int p0, int p1) {
        int width = j1 - j0;
        int vectorEnd = vector ? F.loopBound(width) : 0;
        int p = p0;
        // four rows of B per pass over C's segment: one load and one store of C for four FMAs instead of one, in the
        // same order of additions as one row at a time
        for (; p + 4 <= p1; p += 4) {
            int row0 = bOff + p * n + j0;
            int row1 = row0 + n;
            int row2 = row1 + n;
            int row3 = row2 + n;
            int i = 0;
            // two rows of A per pass: each vector of B loaded once feeds both rows' sums
            for (; vector && i + 2 <= m; i += 2) {
                int ai = aOff + i * k + p;
                int bi = ai + k;
                int out = inC ? cOff + i * n + j0 : i * width;
                int outB = out + (inC ? n : width);
                FloatVector x0 = FloatVector.broadcast(F, a[ai]);
                FloatVector x1 = FloatVector.broadcast(F, a[ai + 1]);
                FloatVector x2 = FloatVector.broadcast(F, a[ai + 2]);
                FloatVector x3 = FloatVector.broadcast(F, a[ai + 3]);
                FloatVector y0 = FloatVector.broadcast(F, a[bi]);
                FloatVector y1 = FloatVector.broadcast(F, a[bi + 1]);
                FloatVector y2 = FloatVector.broadcast(F, a[bi + 2]);
                FloatVector y3 = FloatVector.broadcast(F, a[bi + 3]);
                int j = 0;
                for (; j < vectorEnd; j += LANES) {
                    FloatVector b0 = FloatVector.fromArray(F, b, row0 + j);
                    FloatVector b1 = FloatVector.fromArray(F, b, row1 + j);
                    FloatVector b2 = FloatVector.fromArray(F, b, row2 + j);
                    FloatVector b3 = FloatVector.fromArray(F, b, row3 + j);
                    FloatVector sum = FloatVector.fromArray(F, acc, out + j);
                    sum = b0.fma(x0, sum);
                    sum = b1.fma(x1, sum);
                    sum = b2.fma(x2, sum);
                    sum = b3.fma(x3, sum);
                    sum.intoArray(acc, out + j);
                    FloatVector other = FloatVector.fromArray(F, acc, outB + j);
                    other = b0.fma(y0, other);
                    other = b1.fma(y1, other);
                    other = b2.fma(y2, other);
                    other = b3.fma(y3, other);
                    other.intoArray(acc, outB + j);
                }
                fourRowTail(a, ai, b, row0, n, acc, out, j, width);
                fourRowTail(a, bi, b, row0, n, acc, outB, j, width);
            }
            for (; i < m; i++) {
                int ai = aOff + i * k + p;
                float a0 = a[ai];
                float a1 = a[ai + 1];
                float a2 = a[ai + 2];
                float a3 = a[ai + 3];
                int out = inC ? cOff + i * n + j0 : i * width;
                int j = 0;
                if (j < vectorEnd) {
                    FloatVector v0 = FloatVector.broadcast(F, a0);
                    FloatVector v1 = FloatVector.broadcast(F, a1);
                    FloatVector v2 = FloatVector.broadcast(F, a2);
                    FloatVector v3 = FloatVector.broadcast(F, a3);
                    for (; j < vectorEnd; j += LANES) {
                        FloatVector sum = FloatVector.fromArray(F, acc, out + j);
                        sum = FloatVector.fromArray(F, b, row0 + j).fma(v0, sum);
                        sum = FloatVector.fromArray(F, b, row1 + j).fma(v1, sum);
                        sum = FloatVector.fromArray(F, b, row2 + j).fma(v2, sum);
                        sum = FloatVector.fromArray(F, b, row3 + j).fma(v3, sum);
                        sum.intoArray(acc, out + j);
                    }
                }
                for (; j < width; j++) {
                    float sum = acc[out + j];
                    sum = madd(a0, b[row0 + j], sum);
                    sum = madd(a1, b[row1 + j], sum);
                    sum = madd(a2, b[row2 + j], sum);
                    sum = madd(a3, b[row3 + j], sum);
                    acc[out + j] = sum;
                }
            }
        }
        for (; p < p1; p++) {
            int row = bOff + p * n + j0;
            for (int i = 0; i < m; i++) {
                float av = a[aOff + i * k + p];
                int out = inC ? cOff + i * n + j0 : i * width;
                int j = 0;
                for (; j < vectorEnd; j += LANES) {
                    FloatVector.fromArray(F, b, row + j).fma(FloatVector.broadcast(F, av),
                            FloatVector.fromArray(F, acc, out + j)).intoArray(acc, out + j);
                }
                for (; j < width; j++) {
                    acc[out + j] = madd(av, b[row + j], acc[out + j]);
                }
            }
        }
    }

    /** acc[out + j] for j in [from, width) (+)= four rows of B times a[ai..ai+4), in streamBlock's order. */
    private void fourRowTail(float[] a, int ai, float[] b, int row0, int n, float[] acc, int out, int from,
                             int width) {
        for (int j = from; j < width; j++) {
            float sum = acc[out + j];
            sum = madd(a[ai], b[row0 + j], sum);
            sum = madd(a[ai + 1], b[row0 + n + j], sum);
            sum = madd(a[ai + 2], b[row0 + 2 * n + j], sum);
            sum = madd(a[ai + 3], b[row0 + 3 * n + j], sum);
            acc[out + j] = sum;
        }
    }

    /**
     * a·b + c as the kernels compute it: fused where the vector kernels fuse (so a tail column matches its lanes),
     * a product and a sum in the plain-Java kernels.
     */
    private float madd(float a, float b, float c) {
        return vector ? Math.fma(a, b, c) : c + a * b;
    }

    /**
     * c[i, j0..j1) (+)= A_i · B_j for B stored by rows (op(B) = Bᵀ) and few rows of A: the columns j0..j1 of Bᵀ are
     * copied, a panel of LANES at a time, into a k-major buffer that stays in L1, and each row of A accumulates over
     * it with the blocked kernel's chains (one per block of {@link #KC}, from zero, added to C), so the result is
     * bitwise the blocked path's. B is read once, as with a dot product per element.
     */
    private void streamTransposed(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                                  int j0, int j1, boolean accumulate) {
        int lanes = vector ? LANES : 1;
        Workspace w = WORKSPACE.get();
        float[] panel = w.panel(Math.min(k, KC) * lanes);
        for (int jp = j0; jp < j1; jp += lanes) {
            int width = Math.min(lanes, j1 - jp);
            for (int p0 = 0; p0 < k; p0 += KC) {
                int depth = Math.min(KC, k - p0);
                int blocked = 0;
                if (width == lanes && lanes == BlockTranspose.SIZE && BlockTranspose.SUPPORTED) {
                    blocked = depth - depth % BlockTranspose.SIZE;          // 8 × 8 blocks turned in registers
                    for (int p = 0; p < blocked; p += BlockTranspose.SIZE) {
                        BlockTranspose.transpose(b, bOff + jp * k + p0 + p, k, panel, p * lanes, lanes);
                    }
                }
                for (int jj = 0; jj < lanes; jj++) {
                    if (jj < width) {
                        int row = bOff + (jp + jj) * k + p0;
                        for (int p = blocked; p < depth; p++) {
                            panel[p * lanes + jj] = b[row + p];
                        }
                    } else {
                        for (int p = 0; p < depth; p++) {
                            panel[p * lanes + jj] = 0f;
                        }
                    }
                }
                boolean add = accumulate || p0 > 0;
                int i = 0;
                // four rows of A per pass over the panel: each panel vector loaded once feeds four sums
                for (; vector && width == lanes && i + 4 <= m; i += 4) {
                    int ai = aOff + i * k + p0;
                    FloatVector s0 = FloatVector.zero(F);
                    FloatVector s1 = FloatVector.zero(F);
                    FloatVector s2 = FloatVector.zero(F);
                    FloatVector s3 = FloatVector.zero(F);
                    for (int p = 0; p < depth; p++) {
                        FloatVector column = FloatVector.fromArray(F, panel, p * lanes);
                        s0 = FloatVector.broadcast(F, a[ai + p]).fma(column, s0);
                        s1 = FloatVector.broadcast(F, a[ai + k + p]).fma(column, s1);
                        s2 = FloatVector.broadcast(F, a[ai + 2 * k + p]).fma(column, s2);
                        s3 = FloatVector.broadcast(F, a[ai + 3 * k + p]).fma(column, s3);
                    }
                    int out = cOff + i * n + jp;
                    (add ? s0.add(FloatVector.fromArray(F, c, out)) : s0).intoArray(c, out);
                    (add ? s1.add(FloatVector.fromArray(F, c, out + n)) : s1).intoArray(c, out + n);
                    (add ? s2.add(FloatVector.fromArray(F, c, out + 2 * n)) : s2).intoArray(c, out + 2 * n);
                    (add ? s3.add(FloatVector.fromArray(F, c, out + 3 * n)) : s3).intoArray(c, out + 3 * n);
                }
                for (; i < m; i++) {
                    int ai = aOff + i * k + p0;
                    int out = cOff + i * n + jp;
                    if (vector) {
                        FloatVector sum = FloatVector.zero(F);
                        for (int p = 0; p < depth; p++) {
                            sum = FloatVector.broadcast(F, a[ai + p]).fma(FloatVector.fromArray(F, panel, p * lanes),
                                    sum);
                        }
                        if (width == lanes) {
                            (add ? sum.add(FloatVector.fromArray(F, c, out)) : sum).intoArray(c, out);
                        } else {
                            float[] lane = w.lane(lanes);
                            sum.intoArray(lane, 0);
                            for (int jj = 0; jj < width; jj++) {
                                c[out + jj] = add ? c[out + jj] + lane[jj] : lane[jj];
                            }
                        }
                    } else {
                        float sum = 0f;
                        for (int p = 0; p < depth; p++) {
                            sum += a[ai + p] * panel[p];
                        }
                        c[out] = add ? c[out] + sum : sum;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------ narrow path

    /**
     * C (m×n) (+)= op(A)·op(B) for a shallow k or a narrow n, over tasks of {@link #NARROW_GRAIN_ROWS} rows of C.
     * Shallow k: each row of C is Σ_p A(i, p)·B(p, :) streamed over B's k rows (B transposed once into a row-major
     * copy if needed). Narrow n with A row-major: each element is a dot product of A's row with a row of Bᵀ. Narrow
     * n with A transposed (a weight gradient Xᵀ·G): A's rows are streamed once, each adding to n accumulator rows.
     */
    private void narrow(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, int m, int n, int k,
                        boolean transA, boolean transB, boolean accumulate) {
        Workspace caller = WORKSPACE.get();
        Parallel.RangeBody body;
        if (k <= NARROW && k <= n) {
            float[] bRows = b;
            int bRowsOff = bOff;
            if (transB) {                                                    // B stored (n × k): rows of k×n
                bRows = caller.narrowOperand(k * n);
                bRowsOff = 0;
                for (int j = 0; j < n; j++) {
                    for (int p = 0; p < k; p++) {
                        bRows[p * n + j] = b[bOff + j * k + p];
                    }
                }
            }
            float[] shallowB = bRows;
            int shallowBOff = bRowsOff;
            body = (u0, u1) -> {
                int i0 = u0 * NARROW_GRAIN_ROWS;
                int i1 = Math.min(m, u1 * NARROW_GRAIN_ROWS);
                float[] rows = a;
                int rowsOff = aOff + i0 * k;
                if (transA) {
                    rows = WORKSPACE.get().narrowRows((i1 - i0) * k);
                    rowsOff = 0;
                    for (int i = i0; i < i1; i++) {
                        for (int p = 0; p < k; p++) {
                            rows[(i - i0) * k + p] = a[aOff + p * m + i];
                        }
                    }
                }
                streamRows(rows, rowsOff, shallowB, shallowBOff, c, cOff + i0 * n, i1 - i0, n, k, 0, n, accumulate);
            };
        } else if (!transA) {
            float[] bt = b;
            int btOff = bOff;
            if (!transB) {                                                   // B stored (k × n): Bᵀ's rows
                bt = caller.narrowOperand(n * k);
                btOff = 0;
                for (int p = 0; p < k; p++) {
                    for (int j = 0; j < n; j++) {
                        bt[j * k + p] = b[bOff + p * n + j];
                    }
                }
            }
            float[] columns = bt;
            int columnsOff = btOff;
            body = (u0, u1) -> {
                for (int i = u0 * NARROW_GRAIN_ROWS; i < Math.min(m, u1 * NARROW_GRAIN_ROWS); i++) {
                    for (int j = 0; j < n; j++) {
                        float d = dot(a, aOff + i * k, columns, columnsOff + j * k, k);
                        int at = cOff + i * n + j;
                        c[at] = accumulate ? c[at] + d : d;
                    }
                }
            };
        } else {
            body = (u0, u1) -> {
                int i0 = u0 * NARROW_GRAIN_ROWS;
                int i1 = Math.min(m, u1 * NARROW_GRAIN_ROWS);
                int width = i1 - i0;
                float[] acc = WORKSPACE.get().narrowRows(n * width);          // acc[j * width + (i - i0)]
                java.util.Arrays.fill(acc, 0, n * width, 0f);
                int vectorEnd = vector ? F.loopBound(width) : 0;
                for (int p = 0; p < k; p++) {
                    int row = aOff + p * m + i0;                             // A(i0.., p), contiguous
                    for (int j = 0; j < n; j++) {
                        float bpj = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
                        int out = j * width;
                        int i = 0;
                        if (i < vectorEnd) {
                            FloatVector factor = FloatVector.broadcast(F, bpj);
                            for (; i < vectorEnd; i += LANES) {
                                FloatVector.fromArray(F, a, row + i).fma(factor, FloatVector.fromArray(F, acc, out + i))
                                        .intoArray(acc, out + i);
                            }
                        }
                        for (; i < width; i++) {
                            acc[out + i] += bpj * a[row + i];
                        }
                    }
                }
                for (int i = 0; i < width; i++) {
                    for (int j = 0; j < n; j++) {
                        int at = cOff + (i0 + i) * n + j;
                        c[at] = accumulate ? c[at] + acc[j * width + i] : acc[j * width + i];
                    }
                }
            };
        }
        int units = (m + NARROW_GRAIN_ROWS - 1) / NARROW_GRAIN_ROWS;
        if (2L * m * n * k >= PARALLEL_FLOPS && parallel.threads() > 1 && units > 1) {
            parallel.forRange(units, 1, body);
        } else {
            body.run(0, units);
        }
    }

    private float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        return VectorMath.dot(vector, x, xOff, y, yOff, n);
    }
}
