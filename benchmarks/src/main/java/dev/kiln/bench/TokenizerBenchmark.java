package dev.kiln.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.kiln.tokenizer.bpe.BpeTokenizer;
import dev.kiln.tokenizer.bpe.Tiktoken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The {@code tok} reference workload: encode all of tinyshakespeare (1.1 MB) on one thread with the gpt2 and
 * cl100k_base vocabularies, Kiln's {@code bpe} tokenizer beside JTokkit (a Java port of tiktoken) in the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class TokenizerBenchmark {
    @Param({"gpt2", "cl100k_base"})
    public String encoding;

    private String text;
    /** A megabyte with no split points (one piece): what a base64 blob or DNA in a corpus looks like. */
    private String unsplit;
    private BpeTokenizer kiln;
    private Encoding jtokkit;

    @Setup
    public void setUp() throws IOException {
        Path shared = Path.of(System.getenv().getOrDefault("KILN_SHARED", "../shared"));
        text = Files.readString(shared.resolve("data/tinyshakespeare.txt"), StandardCharsets.UTF_8);
        kiln = Tiktoken.load(shared.resolve("data/tiktoken/" + encoding + ".tiktoken"));
        jtokkit = Encodings.newDefaultEncodingRegistry()
                .getEncoding(encoding.equals("gpt2") ? EncodingType.R50K_BASE : EncodingType.CL100K_BASE);
        int[] ours = kiln.encode(text);
        int[] theirs = jtokkit.encodeOrdinary(text).toArray();
        if (!java.util.Arrays.equals(ours, theirs)) {
            throw new IllegalStateException(encoding + ": Kiln and JTokkit disagree on tinyshakespeare");
        }
        java.util.Random random = new java.util.Random(7);
        StringBuilder letters = new StringBuilder();
        for (int i = 0; i < 1 << 20; i++) {
            letters.append((char) ('a' + random.nextInt(26)));
        }
        unsplit = letters.toString();
        String sample = unsplit.substring(0, 20_000);                     // JTokkit is quadratic on one long piece
        if (!java.util.Arrays.equals(kiln.encode(sample), jtokkit.encodeOrdinary(sample).toArray())) {
            throw new IllegalStateException(encoding + ": Kiln and JTokkit disagree on a 20 000-letter piece");
        }
    }

    @Benchmark
    public int[] kilnMegabyteWithoutSplitPoints() {
        return kiln.encode(unsplit);
    }

    @Benchmark
    public int[] kiln() {
        return kiln.encode(text);
    }

    @Benchmark
    public Object jtokkit() {
        return jtokkit.encodeOrdinary(text);
    }
}
