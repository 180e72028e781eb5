package dev.kiln.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the JMH benchmarks of the named workloads and, in the same run, the PyTorch anchor
 * ({@code ../shared/anchors/torch_reference.py}), before and after, then prints Markdown tables with the ratios — what
 * {@code docs/benchmarks.md} records. Usage: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar
 * gemm,elementwise}.
 */
public final class CompareWithTorch {
    private CompareWithTorch() {
    }

    public static void main(String[] args) throws RunnerException, IOException, InterruptedException {
        List<String> workloads = List.of((args.length > 0 ? args[0] : "gemm,elementwise").split(","));
        for (String workload : workloads) {
            switch (workload.trim()) {
                case "gemm" -> gemm();
                case "elementwise" -> elementwise();
                case "lstm" -> trainingStep("lstm", LstmSeedBenchmark.class, "trainingStep",
                        LstmSeedBenchmark.BATCH * LstmSeedBenchmark.TIME, LstmSeedBenchmark.flopsPerStep(),
                        "lstm-seed V10000 E256 H512 L2, batch 16 × 64, Adam, one training step");
                case "gpt" -> trainingStep("gpt", GptMiniBenchmark.class, "trainingStep",
                        GptMiniBenchmark.BATCH * GptMiniBenchmark.TIME, GptMiniBenchmark.flopsPerStep(),
                        "gpt-mini V4096 L4 H4 d256, batch 16 × 128, Adam, one training step");
                case "gen" -> generation();
                case "seq2seq" -> seq2seq();
                case "lora" -> lora();
                case "opencl" -> backends();
                case "tok" -> tokenizer();
                case "tok100mb" -> {
                    Collection<RunResult> r = new Runner(options(TokenizerCorpusBenchmark.class.getSimpleName() + "\\.")
                            .build()).run();
                    System.out.printf(Locale.ROOT, "%ntrain 4096 tokens on 100 MB: %.1f s (± %.1f)%n",
                            r.iterator().next().getPrimaryResult().getScore() / 1000,
                            r.iterator().next().getPrimaryResult().getScoreError() / 1000);
                }
                default -> throw new IllegalArgumentException("unknown workload '" + workload
                        + "'; known: gemm, elementwise, lstm, gpt, gen, seq2seq, lora, opencl, tok, tok100mb");
            }
        }
    }

    /** JMH options for the benchmark methods matching {@code pattern} (a regular expression over their names). */
    private static ChainedOptionsBuilder options(String pattern) {
        return new OptionsBuilder()
                .include(pattern)
                .forks(1)
                .warmupIterations(3)
                .warmupTime(TimeValue.seconds(2))
                .measurementIterations(5)
                .measurementTime(TimeValue.seconds(2))
                .timeUnit(TimeUnit.MILLISECONDS)
                .jvmArgsAppend("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC",
                        "-XX:GCTimeRatio=4", "-Xmx8g");                       // the collector policy kiln ships with
    }

    private static void gemm() throws RunnerException, IOException, InterruptedException {
        Map<Integer, Double> torchBefore = torchGemm();
        Collection<RunResult> results = new Runner(options("(" + GemmBenchmark.class.getSimpleName() + "|"
                + FmaPeakBenchmark.class.getSimpleName() + ")\\.").build()).run();
        Map<Integer, Double> torchAfter = torchGemm();
        double peak = Double.NaN;
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().contains(FmaPeakBenchmark.class.getSimpleName())) {
                double ms = r.getPrimaryResult().getScore();
                peak = FmaPeakBenchmark.THREADS * FmaPeakBenchmark.flopsPerCall() / (ms * 1e-3) / 1e9;
            }
        }
        StringBuilder table = new StringBuilder();
        table.append("| n | Kiln cpu GFLOP/s (2 threads) | PyTorch GFLOP/s (before, after) | ratio Kiln / PyTorch "
                + "| share of the FMA peak: Kiln, PyTorch |\n");
        table.append("|---|---|---|---|---|\n");
        for (RunResult r : results) {
            if (!r.getParams().getBenchmark().contains(GemmBenchmark.class.getSimpleName())) {
                continue;
            }
            int n = Integer.parseInt(r.getParams().getParam("n"));
            double ms = r.getPrimaryResult().getScore();
            double error = r.getPrimaryResult().getScoreError();
            double gflops = 2.0 * n * n * n / (ms * 1e-3) / 1e9;
            double gflopsLow = 2.0 * n * n * n / ((ms + error) * 1e-3) / 1e9;
            Double before = torchBefore.get(n);
            Double after = torchAfter.get(n);
            Double bestTorch = before == null ? null : Math.max(before, after == null ? before : after);
            String torch = before == null ? "n/a" : String.format(Locale.ROOT, "%.1f, %.1f", before, after);
            String ratio = bestTorch == null ? "n/a" : String.format(Locale.ROOT, "%.2f", gflops / bestTorch);
            String shares = String.format(Locale.ROOT, "%.0f %%, %s", 100 * gflops / peak,
                    bestTorch == null ? "n/a" : String.format(Locale.ROOT, "%.0f %%", 100 * bestTorch / peak));
            table.append(String.format(Locale.ROOT, "| %d | %.1f (≥ %.1f at 99.9%%) | %s | %s | %s |%n", n, gflops,
                    gflopsLow, torch, ratio, shares));
        }
        System.out.println();
        System.out.println("gemm: float32 C = A·B, n × n; the ratio uses the better of the two PyTorch runs");
        System.out.printf(Locale.ROOT, "FMA peak in the same run (%d threads, %d independent vector FMA chains each): "
                + "%.1f GFLOP/s%n", FmaPeakBenchmark.THREADS, FmaPeakBenchmark.CHAINS, peak);
        System.out.print(table);
    }

    /** The gpt-mini fine-tuning step in full and with LoRA r = 8, in one JMH run: tokens/s, counts and the ratio. */
    private static void lora() throws RunnerException {
        Collection<RunResult> results = new Runner(options(LoraStepBenchmark.class.getSimpleName() + "\\.").build())
                .run();
        Map<String, double[]> perMode = new LinkedHashMap<>();
        for (RunResult r : results) {
            double ms = r.getPrimaryResult().getScore();
            perMode.put(r.getParams().getParam("mode"), new double[] {ms, r.getPrimaryResult().getScoreError()});
        }
        Map<String, long[]> counts = LoraStepBenchmark.counts();
        int tokens = GptMiniBenchmark.BATCH * GptMiniBenchmark.TIME;
        System.out.println();
        System.out.println("lora: gpt-mini fine-tuning step (batch 16 × 128, Adam), full vs LoRA r = 8 on c_attn, c_proj,"
                + " c_fc");
        System.out.println("| mode | ms per step | tokens/s | trainable parameters | Adam state (floats) |");
        System.out.println("|---|---|---|---|---|");
        for (String mode : List.of("full", "lora", "frozen")) {
            double[] ms = perMode.get(mode);
            long[] c = counts.get(mode);
            System.out.printf(Locale.ROOT, "| %s | %.1f ± %.1f | %.0f | %s | %s |%n", mode, ms[0], ms[1],
                    tokens / (ms[0] * 1e-3), c == null ? "— (bound: every dX, no dW)"
                            : String.format(Locale.ROOT, "%,d (%.2f %%)", c[0], 100.0 * c[0] / counts.get("full")[0]),
                    c == null ? "—" : String.format(Locale.ROOT, "%,d", c[1]));
        }
        System.out.printf(Locale.ROOT, "LoRA / full tokens/s: %.2f×; frozen / full (what LoRA could reach at most): "
                + "%.2f×%n", perMode.get("full")[0] / perMode.get("lora")[0],
                perMode.get("full")[0] / perMode.get("frozen")[0]);
    }

    /** gemm n = 1024 and the gpt-mini step on the cpu and opencl backends in one JMH run, with opencl / cpu. */
    private static void backends() throws RunnerException {
        Collection<RunResult> results = new Runner(options(BackendComparisonBenchmark.class.getSimpleName() + "\\.")
                .build()).run();
        Map<String, Map<String, Double>> perSecond = new LinkedHashMap<>();
        for (RunResult r : results) {
            String method = r.getPrimaryResult().getLabel();
            String backend = r.getParams().getParam("backend");
            double seconds = r.getPrimaryResult().getScore() * 1e-3;
            double rate = method.equals("gemm1024") ? 2.0 * 1024 * 1024 * 1024 / seconds / 1e9
                    : GptMiniBenchmark.BATCH * GptMiniBenchmark.TIME / seconds;
            perSecond.computeIfAbsent(method, m -> new LinkedHashMap<>()).put(backend, rate);
        }
        System.out.println();
        System.out.println("| workload | cpu (2 threads) | opencl | opencl / cpu |");
        System.out.println("|---|---|---|---|");
        perSecond.forEach((method, rates) -> System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.2f |%n",
                method.equals("gemm1024") ? "gemm n = 1024, GFLOP/s" : "gpt-mini step, tokens/s",
                rates.getOrDefault("cpu", Double.NaN), rates.getOrDefault("opencl", Double.NaN),
                rates.getOrDefault("opencl", Double.NaN) / rates.getOrDefault("cpu", Double.NaN)));
    }

    /**
     * A training-step workload: tokens/s of Kiln (JMH) and its MFU against the FMA peak measured in the same JMH run,
     * beside torch_reference.py's figure, measured before and after.
     */
    private static void trainingStep(String anchor, Class<?> benchmark, String method, int tokensPerStep,
                                     double flopsPerStep, String title)
            throws RunnerException, IOException, InterruptedException {
        double before = torchTokensPerSecond(anchor);
        Collection<RunResult> results = new Runner(options("(" + benchmark.getSimpleName() + "\\." + method + "|"
                + FmaPeakBenchmark.class.getSimpleName() + "\\.)").build()).run();
        double after = torchTokensPerSecond(anchor);
        double peak = Double.NaN;
        double ms = Double.NaN;
        double error = Double.NaN;
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().contains(FmaPeakBenchmark.class.getSimpleName())) {
                peak = FmaPeakBenchmark.THREADS * FmaPeakBenchmark.flopsPerCall() / (r.getPrimaryResult().getScore() * 1e-3);
            } else {
                ms = r.getPrimaryResult().getScore();
                error = r.getPrimaryResult().getScoreError();
            }
        }
        double kiln = tokensPerStep / (ms * 1e-3);
        double best = Math.max(before, after);
        double flopsPerToken = flopsPerStep / tokensPerStep;
        System.out.println();
        System.out.println(title + String.format(Locale.ROOT, "; %.1f GFLOP per step; FMA peak in the same run %.1f "
                + "GFLOP/s; the ratio uses the better of the two PyTorch runs", flopsPerStep / 1e9, peak / 1e9));
        System.out.println("| Kiln cpu tokens/s (2 threads) | step ms | MFU | PyTorch tokens/s (before, after) "
                + "| ratio Kiln / PyTorch | PyTorch MFU |");
        System.out.println("|---|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| %.0f | %.1f ± %.1f (%.0f %%) | %.1f %% | %.0f, %.0f | %.2f | %.1f %% |%n", kiln, ms,
                error, 100 * error / ms, 100 * kiln * flopsPerToken / peak, before, after, kiln / best,
                100 * best * flopsPerToken / peak);
    }

    /**
     * The seq2seq-step workload: the training step's target tokens/s and its MFU against the FMA peak of the same JMH
     * run, beside PyTorch's step (before and after), and beam-4 decoding tokens/s.
     */
    private static void seq2seq() throws RunnerException, IOException, InterruptedException {
        double before = torchTokensPerSecond("seq2seq");
        Collection<RunResult> results = new Runner(options("(" + Seq2SeqStepBenchmark.class.getSimpleName() + "|"
                + FmaPeakBenchmark.class.getSimpleName() + ")\\.").build()).run();
        double after = torchTokensPerSecond("seq2seq");
        double peak = Double.NaN;
        double stepMs = Double.NaN;
        double stepError = Double.NaN;
        double decodeMs = Double.NaN;
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            if (name.contains(FmaPeakBenchmark.class.getSimpleName())) {
                peak = FmaPeakBenchmark.THREADS * FmaPeakBenchmark.flopsPerCall() / (r.getPrimaryResult().getScore() * 1e-3);
            } else if (name.endsWith("trainingStep")) {
                stepMs = r.getPrimaryResult().getScore();
                stepError = r.getPrimaryResult().getScoreError();
            } else if (name.endsWith("beamDecode")) {
                decodeMs = r.getPrimaryResult().getScore();
            }
        }
        int tokens = Seq2SeqStepBenchmark.BATCH * Seq2SeqStepBenchmark.LENGTH;
        double kiln = tokens / (stepMs * 1e-3);
        double flops = Seq2SeqStepBenchmark.flopsPerStep();
        double mfu = flops / (stepMs * 1e-3) / peak;
        double best = Math.max(before, after);
        System.out.println();
        System.out.println("seq2seq-step V8000 d512 h8 6+6 ff2048, batch 8, source and target 64, Adam; "
                + String.format(Locale.ROOT, "%.1f GFLOP per step; FMA peak in the same run %.1f GFLOP/s", flops / 1e9,
                peak / 1e9));
        System.out.println("| Kiln target tokens/s (2 threads) | step ms | MFU | PyTorch tokens/s (before, after) | "
                + "ratio Kiln / PyTorch | PyTorch MFU |");
        System.out.println("|---|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| %.0f | %.0f ± %.0f | %.1f %% | %.0f, %.0f | %.2f | %.1f %% |%n", kiln, stepMs,
                stepError, 100 * mfu, before, after, kiln / best, 100 * best / tokens * flops / peak);
        System.out.printf(Locale.ROOT, "beam-4 decoding, 8 sources × %d tokens: %.0f ms, %.0f target tokens/s%n",
                Seq2SeqStepBenchmark.DECODED, decodeMs,
                Seq2SeqStepBenchmark.BATCH * Seq2SeqStepBenchmark.DECODED / (decodeMs * 1e-3));
    }

    /** Encoding tinyshakespeare on one thread: Kiln's bpe against JTokkit, MB/s, in the same JMH run. */
    private static void tokenizer() throws RunnerException, IOException {
        double megabytes = Files.size(Path.of(System.getenv().getOrDefault("KILN_SHARED", "../shared"),
                "data", "tinyshakespeare.txt")) / 1e6;
        Collection<RunResult> results = new Runner(options(TokenizerBenchmark.class.getSimpleName() + "\\.")
                .build()).run();
        Map<String, Map<String, Double>> rates = new LinkedHashMap<>();
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            rates.computeIfAbsent(r.getParams().getParam("encoding"), k -> new LinkedHashMap<>())
                    .put(method, megabytes / (r.getPrimaryResult().getScore() * 1e-3));
        }
        System.out.println();
        System.out.println("tok: encode tinyshakespeare (1.1 MB), one thread");
        System.out.println("| encoding | Kiln MB/s | JTokkit MB/s | ratio |");
        System.out.println("|---|---|---|---|");
        rates.forEach((encoding, r) -> System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.2f |%n", encoding,
                r.get("kiln"), r.get("jtokkit"), r.get("kiln") / r.get("jtokkit")));
        Collection<RunResult> build = new Runner(options(TokenizerBuildBenchmark.class.getSimpleName() + "\\.").build()).run();
        System.out.println();
        System.out.println("| vocabulary work | ms (± 99.9% CI) |");
        System.out.println("|---|---|");
        for (RunResult r : build) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            System.out.printf(Locale.ROOT, "| %s | %.0f ± %.0f |%n", method, r.getPrimaryResult().getScore(),
                    r.getPrimaryResult().getScoreError());
        }
    }

    /**
     * Greedy generation: Kiln through its KV cache, one sequence and 16 decoded together, against the anchor's
     * full-recompute loop ({@code gen}) and its KV-cache loop ({@code genkv}, batch 1 and 16).
     */
    private static void generation() throws RunnerException, IOException, InterruptedException {
        double before = torchGenerationRate();
        Map<Integer, Double> cachedBefore = torchCachedGenerationRates();
        Collection<RunResult> results = new Runner(options(GptMiniBenchmark.class.getSimpleName()
                + "\\.(generate|generateBatch16)$").build()).run();
        double after = torchGenerationRate();
        Map<Integer, Double> cachedAfter = torchCachedGenerationRates();
        Map<String, Double> kiln = new LinkedHashMap<>();
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            int sequences = method.equals("generateBatch16") ? GptMiniBenchmark.DECODE_BATCH : 1;
            kiln.put(method, sequences * GptMiniBenchmark.NEW_TOKENS / (r.getPrimaryResult().getScore() * 1e-3));
        }
        double one = kiln.getOrDefault("generate", Double.NaN);
        double sixteen = kiln.getOrDefault("generateBatch16", Double.NaN);
        System.out.println();
        System.out.println("gen: gpt-mini (context 256), greedy, 128 new tokens per sequence, 2 threads");
        System.out.println("| batch | Kiln cpu tokens/s (all sequences) | PyTorch no cache (before, after) "
                + "| PyTorch KV cache (before, after) | Kiln / PyTorch KV cache |");
        System.out.println("|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| 1 | %.0f | %.0f, %.0f | %.0f, %.0f | %.2f |%n", one, before, after,
                cachedBefore.getOrDefault(1, Double.NaN), cachedAfter.getOrDefault(1, Double.NaN),
                one / Math.max(cachedBefore.getOrDefault(1, Double.NaN), cachedAfter.getOrDefault(1, Double.NaN)));
        System.out.printf(Locale.ROOT, "| 16 | %.0f | — | %.0f, %.0f | %.2f |%n", sixteen,
                cachedBefore.getOrDefault(16, Double.NaN), cachedAfter.getOrDefault(16, Double.NaN),
                sixteen / Math.max(cachedBefore.getOrDefault(16, Double.NaN), cachedAfter.getOrDefault(16, Double.NaN)));
        System.out.printf(Locale.ROOT, "batch 16 / batch 1 (Kiln): %.2f%n", sixteen / one);
    }

    private static double torchGenerationRate() throws IOException, InterruptedException {
        Matcher m = Pattern.compile("\\): (\\d+) tok/s").matcher(runTorch("gen"));
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    /** batch → tokens/s of the anchor's KV-cache loop. */
    private static Map<Integer, Double> torchCachedGenerationRates() throws IOException, InterruptedException {
        Map<Integer, Double> rates = new LinkedHashMap<>();
        Matcher m = Pattern.compile("batch (\\d+), KV cache: (\\d+) tok/s").matcher(runTorch("genkv"));
        while (m.find()) {
            rates.put(Integer.parseInt(m.group(1)), Double.parseDouble(m.group(2)));
        }
        return rates;
    }

    private static double torchTokensPerSecond(String workload) throws IOException, InterruptedException {
        Matcher m = Pattern.compile("tokens/s=(\\d+)").matcher(runTorch(workload));
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    private static void elementwise() throws RunnerException {
        Collection<RunResult> results = new Runner(options(ElementwiseBenchmark.class.getSimpleName() + "\\.").build()).run();
        Map<String, Double> bytesMoved = new LinkedHashMap<>();
        long n = ElementwiseBenchmark.N;
        bytesMoved.put("arrayCopy", 2.0 * 4 * n);
        bytesMoved.put("add", 3.0 * 4 * n);
        bytesMoved.put("addBias", 2.0 * 4 * n);
        bytesMoved.put("exp", 2.0 * 4 * n);
        bytesMoved.put("sumRows", 1.0 * 4 * n);
        bytesMoved.put("softmax", 2.0 * 4 * n);
        Map<String, Double> gigabytesPerSecond = new LinkedHashMap<>();
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            name = name.substring(name.lastIndexOf('.') + 1);
            gigabytesPerSecond.put(name, bytesMoved.get(name) / (r.getPrimaryResult().getScore() * 1e-3) / 1e9);
        }
        double copy = gigabytesPerSecond.getOrDefault("arrayCopy", Double.NaN);
        System.out.println();
        System.out.println("elementwise and reductions on 16 M floats (64 MB per operand), 2 threads");
        System.out.println("| kernel | GB/s | ratio to System.arraycopy (1 thread) |");
        System.out.println("|---|---|---|");
        gigabytesPerSecond.forEach((name, gbs) -> System.out.printf(Locale.ROOT, "| %s | %.1f | %.2f |%n", name, gbs,
                gbs / copy));
    }

    /** Runs the PyTorch anchor's gemm workload with 2 threads; empty when PyTorch is not installed. */
    private static Map<Integer, Double> torchGemm() throws IOException, InterruptedException {
        Map<Integer, Double> out = new LinkedHashMap<>();
        String output = runTorch("gemm");
        Matcher m = Pattern.compile("sgemm (\\d+): ([0-9.]+) GFLOP/s").matcher(output);
        while (m.find()) {
            out.put(Integer.parseInt(m.group(1)), Double.parseDouble(m.group(2)));
        }
        return out;
    }

    static String runTorch(String workload) throws IOException, InterruptedException {
        String shared = System.getenv().getOrDefault("KILN_SHARED", "../shared");
        Path script = Path.of(shared, "anchors", "torch_reference.py");
        Path python = Path.of("/usr/bin/python3");
        if (!Files.exists(script) || !Files.isExecutable(python)) {
            System.out.println("PyTorch anchor not found (" + script + ", " + python + "): ratios are n/a");
            return "";
        }
        List<String> command = new ArrayList<>(List.of(python.toString(), script.toString(), workload, "2"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor();
        System.out.print("PyTorch: " + output);
        return output;
    }
}
