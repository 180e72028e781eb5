package dev.kiln.bench;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

/**
 * The machine's float32 FMA peak as Java reaches it: two threads, each running ten independent chains of vector FMAs
 * on registers, no memory. It is the ceiling a GEMM is measured against (a GEMM does the same FMAs and also has to
 * feed them), so the gemm table can say how close Kiln and PyTorch each get to it in the same run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Threads(FmaPeakBenchmark.THREADS)
public class FmaPeakBenchmark {
    static final int THREADS = 2;
    /** Loop iterations per call; each does CHAINS FMAs on one vector. */
    static final int ITERATIONS = 10_000_000;
    /**
     * Independent accumulators: more than FMA latency × FMA ports (4 × 2 on this machine), so none waits. The loop in
     * {@link #fmaChains} writes them out by hand (an array of vectors would not stay in registers): change both together.
     */
    static final int CHAINS = 10;
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    /** Floating-point operations of one call on one thread (an FMA is two per lane). */
    static double flopsPerCall() {
        return 2.0 * SPECIES.length() * CHAINS * (double) ITERATIONS;
    }

    // fields, not constants, so that the compiler cannot fold the chains
    public float scale = 1.0000001f;
    public float shift = 0.9999999f;

    @Benchmark
    public float fmaChains() {
        FloatVector x = FloatVector.broadcast(SPECIES, scale);
        FloatVector y = FloatVector.broadcast(SPECIES, shift);
        FloatVector c0 = FloatVector.zero(SPECIES), c1 = c0, c2 = c0, c3 = c0, c4 = c0;
        FloatVector c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0;
        for (int i = 0; i < ITERATIONS; i++) {
            c0 = x.fma(y, c0);
            c1 = x.fma(y, c1);
            c2 = x.fma(y, c2);
            c3 = x.fma(y, c3);
            c4 = x.fma(y, c4);
            c5 = x.fma(y, c5);
            c6 = x.fma(y, c6);
            c7 = x.fma(y, c7);
            c8 = x.fma(y, c8);
            c9 = x.fma(y, c9);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9)
                .reduceLanes(VectorOperators.ADD);
    }
}
