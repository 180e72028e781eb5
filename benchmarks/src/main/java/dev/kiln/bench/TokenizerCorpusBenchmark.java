package dev.kiln.bench;

import dev.kiln.tokenizer.bpe.BpeTrainer;
import dev.kiln.tokenizer.bpe.SplitPatterns;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Training 4096 tokens on a 100 MB corpus: tinyshakespeare repeated, each copy varied (its number on every line,
 * every other copy upper-cased). Reports the peak heap of each iteration beside the time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class TokenizerCorpusBenchmark {
    public static final int BYTES = 100_000_000;

    private String corpus;

    @Setup
    public void setUp() throws IOException {
        Path shared = Path.of(System.getenv().getOrDefault("KILN_SHARED", "../shared"));
        String base = Files.readString(shared.resolve("data/tinyshakespeare.txt"), StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(BYTES + base.length());
        for (int copy = 0; sb.length() < BYTES; copy++) {
            for (String line : base.split("\n")) {
                sb.append(copy % 2 == 1 ? line.toUpperCase(Locale.ROOT) : line).append(' ').append(copy).append('\n');
            }
        }
        corpus = sb.substring(0, BYTES);
    }

    @Setup(Level.Iteration)
    public void resetPeaks() {
        System.gc();
        heapPools().forEach(MemoryPoolMXBean::resetPeakUsage);
    }

    @Benchmark
    public Object train100MB() {
        return BpeTrainer.train(corpus, 4096, SplitPatterns.CL100K, List.of()).merges();
    }

    @TearDown(Level.Iteration)
    public void reportPeak() {
        long peak = heapPools().stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum();
        System.out.printf(Locale.ROOT, "peak heap during training (corpus included): %.0f MB%n", peak / 1e6);
    }

    private static List<MemoryPoolMXBean> heapPools() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP).toList();
    }
}
