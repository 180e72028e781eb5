package dev.kiln.bench;

import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.Storage;
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

/** The {@code gemm} reference workload: float32 C = A·B, n × n, on the cpu backend with 2 threads. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class GemmBenchmark {
    @Param({"256", "1024", "2048"})
    public int n;

    @Param({"2"})
    public int threads;

    private CpuBackend backend;
    private Storage a;
    private Storage b;
    private Storage c;
    private MatmulShape shape;

    @Setup
    public void setUp() {
        backend = new CpuBackend(threads, true);
        a = backend.allocate(DType.FLOAT32, n * n);
        b = backend.allocate(DType.FLOAT32, n * n);
        c = backend.allocate(DType.FLOAT32, n * n);
        backend.randomFill(a, Distribution.NORMAL, 0f, 1f, 1);
        backend.randomFill(b, Distribution.NORMAL, 0f, 1f, 2);
        shape = MatmulShape.of(n, n, n);
    }

    @Benchmark
    public Storage matmul() {
        backend.matmul(a, b, c, shape);
        return c;
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }
}
