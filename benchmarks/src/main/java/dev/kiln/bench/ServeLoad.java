package dev.kiln.bench;

import dev.kiln.api.io.Json;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The load generator for {@code kiln serve}: N clients at once, each streaming completions of a fixed number of new
 * tokens, for each N asked; it reports the aggregate tokens/s, the time to first token and the inter-token latency
 * (p50, p99) as a client sees them. With {@code --pid} it then sends many short requests and compares the server's
 * resident memory after the first thousandth-part and at the end.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.kiln.bench.ServeLoad --url http://127.0.0.1:8000/v1 \
 *     --model ID [--clients 1,4,16,64] [--tokens 128] [--rounds 2] [--pid PID --memory-requests 10000]</pre>
 */
public final class ServeLoad {
    private ServeLoad() {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
            .executor(Executors.newVirtualThreadPerTaskExecutor()).build();

    /** What one streamed request measured: its first-token delay, the gaps between its tokens, and its tokens. */
    record Stream1(double firstToken, double[] gaps, int tokens) {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = new java.util.HashMap<>(Map.of("clients", "1,4,16,64", "tokens", "128",
                "rounds", "2", "memory-requests", "10000", "memory-tokens", "8", "memory-clients", "16"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --option value pairs, got " + args[i]);
            }
            options.put(args[i].substring(2), args[i + 1]);
        }
        String url = options.get("url");
        String model = options.get("model");
        if (url == null || model == null) {
            throw new IllegalArgumentException("--url and --model are required");
        }
        int tokens = Integer.parseInt(options.get("tokens"));
        int rounds = Integer.parseInt(options.get("rounds"));
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {      // warm the server's JIT
            List<Future<Stream1>> warm = new ArrayList<>();
            for (int c = 0; c < 8; c++) {
                int client = c;
                warm.add(pool.submit(() -> stream(url, model, client, 64)));
            }
            for (Future<Stream1> f : warm) {
                f.get();
            }
            stream(url, model, 0, 64);
        }
        System.out.printf(Locale.ROOT, "%-8s %12s %10s %10s %10s %10s %8s%n", "clients", "tokens/s", "ttft p50",
                "ttft p99", "itl p50", "itl p99", "tokens");
        for (String n : options.get("clients").split(",")) {
            int clients = Integer.parseInt(n.trim());
            List<Stream1> results = Collections.synchronizedList(new ArrayList<>());
            long start = System.nanoTime();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> running = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    int client = c;
                    running.add(pool.submit(() -> {
                        for (int r = 0; r < rounds; r++) {
                            results.add(stream(url, model, client * rounds + r, tokens));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : running) {
                    f.get();
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long total = results.stream().mapToLong(Stream1::tokens).sum();
            double[] first = results.stream().mapToDouble(Stream1::firstToken).sorted().toArray();
            double[] gaps = results.stream().flatMapToDouble(s -> Arrays.stream(s.gaps())).sorted().toArray();
            System.out.printf(Locale.ROOT, "%-8d %12.1f %8.1fms %8.1fms %8.1fms %8.1fms %8d%n", clients,
                    total / seconds, 1e3 * quantile(first, 0.5), 1e3 * quantile(first, 0.99),
                    1e3 * quantile(gaps, 0.5), 1e3 * quantile(gaps, 0.99), total);
        }
        if (options.containsKey("pid")) {
            memory(url, model, Long.parseLong(options.get("pid")), Integer.parseInt(options.get("memory-requests")),
                    Integer.parseInt(options.get("memory-tokens")), Integer.parseInt(options.get("memory-clients")));
        }
    }

    /**
     * Streams one completion as a plain client does; each token's text arrives in its own chunk (a token whose bytes
     * end mid-character comes with the next), and the usage chunk at the end counts the tokens.
     */
    static Stream1 stream(String url, String model, int index, int tokens) throws IOException, InterruptedException {
        String body = Json.write(Map.of("model", model, "prompt", "First Citizen " + index + ":", "max_tokens",
                tokens, "temperature", 0.8, "seed", index, "stream", true, "stream_options", Map.of("include_usage", true)));
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(10))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        long sent = System.nanoTime();
        HttpResponse<Stream<String>> response = HTTP.send(request, HttpResponse.BodyHandlers.ofLines());
        if (response.statusCode() != 200) {
            throw new IOException("HTTP " + response.statusCode() + ": " + String.join("\n", response.body().toList()));
        }
        List<Long> arrivals = new ArrayList<>();
        int[] counted = {0};
        response.body().forEach(line -> {
            if (line.startsWith("data: {\"error\"")) {
                throw new IllegalStateException(line);
            }
            if (line.startsWith("data: {") && line.contains("\"finish_reason\":null")) {
                arrivals.add(System.nanoTime());
            } else if (line.startsWith("data: {") && line.contains("\"completion_tokens\":")) {
                Map<?, ?> usage = (Map<?, ?>) ((Map<?, ?>) Json.parse(line.substring(6), "usage")).get("usage");
                counted[0] = ((Number) usage.get("completion_tokens")).intValue();
            }
        });
        if (arrivals.isEmpty()) {
            throw new IOException("no tokens streamed");
        }
        double[] gaps = new double[arrivals.size() - 1];
        for (int i = 1; i < arrivals.size(); i++) {
            gaps[i - 1] = (arrivals.get(i) - arrivals.get(i - 1)) / 1e9;
        }
        return new Stream1((arrivals.getFirst() - sent) / 1e9, gaps, counted[0]);
    }

    /** Many short requests; the server's RSS after a tenth of them and after all. */
    private static void memory(String url, String model, long pid, int requests, int tokens, int clients)
            throws Exception {
        AtomicLong done = new AtomicLong();
        long[] rss = new long[2];
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> running = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                running.add(pool.submit(() -> {
                    for (long r = done.getAndIncrement(); r < requests; r = done.getAndIncrement()) {
                        String body = Json.write(Map.of("model", model, "prompt", "Citizen " + (r % 97) + ":",
                                "max_tokens", tokens, "temperature", 1, "seed", r, "stream", r % 2 == 0));
                        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(url
                                        + "/completions")).header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                                HttpResponse.BodyHandlers.ofString());
                        if (response.statusCode() != 200) {
                            throw new IOException("request " + r + ": HTTP " + response.statusCode());
                        }
                        if (r == requests / 10) {
                            rss[0] = residentKb(pid);
                        }
                    }
                    return client;
                }));
            }
            for (Future<?> f : running) {
                f.get();
            }
        }
        rss[1] = residentKb(pid);
        System.out.printf(Locale.ROOT, "memory: %d requests of %d tokens (%d clients) in %.1f s; server RSS %.1f MB "
                        + "after request %d, %.1f MB after request %d (%+.1f %%)%n", requests, tokens, clients,
                (System.nanoTime() - start) / 1e9, rss[0] / 1024.0, requests / 10, rss[1] / 1024.0, requests,
                100.0 * (rss[1] - rss[0]) / rss[0]);
    }

    private static long residentKb(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS for process " + pid);
    }

    private static double quantile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * (sorted.length - 1) + 0.5))];
    }
}
