package dev.kiln.bench;

import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import dev.kiln.api.ops.Softmax;
import dev.kiln.backend.cpu.CpuBackend;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Memory-bound kernels on 16 M floats (64 MB per operand, far beyond the caches), next to a plain array copy of the
 * same size: the figure that matters is bytes moved per second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ElementwiseBenchmark {
    public static final int ROWS = 4096;
    public static final int COLS = 4096;
    public static final int N = ROWS * COLS;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Storage x;
    private Storage y;
    private Storage out;
    private Storage rowVector;
    private Storage perRow;
    private float[] copySource;
    private float[] copyTarget;
    private static final int[] DENSE = {1};
    private static final int[] SHAPE = {N};
    private static final int[] MATRIX = {COLS, 1};
    private static final int[] ROW_BROADCAST = {0, 1};
    private static final int[] MATRIX_SHAPE = {ROWS, COLS};

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads, true);
        x = backend.allocate(DType.FLOAT32, N);
        y = backend.allocate(DType.FLOAT32, N);
        out = backend.allocate(DType.FLOAT32, N);
        rowVector = backend.allocate(DType.FLOAT32, COLS);
        perRow = backend.allocate(DType.FLOAT32, ROWS);
        backend.randomFill(x, Distribution.UNIFORM, -1f, 1f, 1);
        backend.randomFill(y, Distribution.UNIFORM, -1f, 1f, 2);
        backend.randomFill(rowVector, Distribution.UNIFORM, -1f, 1f, 3);
        copySource = new float[N];
        copyTarget = new float[N];
    }

    /** The baseline: one thread's System.arraycopy, 2 × 64 MB moved. */
    @Benchmark
    public float[] arrayCopy() {
        System.arraycopy(copySource, 0, copyTarget, 0, N);
        return copyTarget;
    }

    /** out = x + y: 3 × 64 MB moved. */
    @Benchmark
    public Storage add() {
        backend.binary(BinaryOp.ADD, x, DENSE, y, DENSE, out, SHAPE);
        return out;
    }

    /** out = x + bias (a row broadcast over 4096 rows): 2 × 64 MB moved. */
    @Benchmark
    public Storage addBias() {
        backend.binary(BinaryOp.ADD, x, MATRIX, rowVector, ROW_BROADCAST, out, MATRIX_SHAPE);
        return out;
    }

    /** out = exp(x): 2 × 64 MB moved. */
    @Benchmark
    public Storage exp() {
        backend.unary(UnaryOp.EXP, x, out);
        return out;
    }

    /** Row sums of a 4096 × 4096 matrix: 64 MB read. */
    @Benchmark
    public Storage sumRows() {
        backend.reduce(ReduceOp.SUM, x, ROWS, COLS, 1, perRow);
        return perRow;
    }

    /** Row-wise softmax of a 4096 × 4096 matrix: 2 × 64 MB moved (plus a second read). */
    @Benchmark
    public Storage softmax() {
        Softmax.OP.kernel(backend).forward(x, out, ROWS, COLS);
        return out;
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
