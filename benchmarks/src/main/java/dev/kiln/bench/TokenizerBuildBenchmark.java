package dev.kiln.bench;

import dev.kiln.tokenizer.bpe.BpeTokenizer;
import dev.kiln.tokenizer.bpe.BpeTrainer;
import dev.kiln.tokenizer.bpe.SplitPatterns;
import dev.kiln.tokenizer.bpe.Tiktoken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/** Building vocabularies: training 4096 tokens on tinyshakespeare (cl100k split), and loading cl100k_base. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class TokenizerBuildBenchmark {
    private String text;
    private Path shared;

    @Setup
    public void setUp() throws IOException {
        shared = Path.of(System.getenv().getOrDefault("KILN_SHARED", "../shared"));
        text = Files.readString(shared.resolve("data/tinyshakespeare.txt"), StandardCharsets.UTF_8);
    }

    @Benchmark
    public Object train4096() {
        return BpeTrainer.train(text, 4096, SplitPatterns.CL100K, List.of()).merges();
    }

    @Benchmark
    public BpeTokenizer loadCl100k() {
        return Tiktoken.load(shared.resolve("data/tiktoken/cl100k_base.tiktoken"));
    }
}
