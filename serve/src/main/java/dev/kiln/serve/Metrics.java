package dev.kiln.serve;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/** The server's counters, gauges and histograms, written in Prometheus' text exposition format. */
final class Metrics {
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();
    private final LongAdder cancelled = new LongAdder();
    final Histogram timeToFirstToken = new Histogram(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30);
    final Histogram interTokenLatency = new Histogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1);
    final Histogram batchSize = new Histogram(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024);
    final Histogram requestDuration = new Histogram(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300);
    private volatile IntSupplier queueLength = () -> 0;
    private volatile IntSupplier activeSlots = () -> 0;

    void gauges(IntSupplier queue, IntSupplier active) {
        this.queueLength = queue;
        this.activeSlots = active;
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    void promptTokens(int n) {
        promptTokens.add(n);
    }

    void completionToken() {
        completionTokens.increment();
    }

    void cancelled() {
        cancelled.increment();
    }

    long completionTokens() {
        return completionTokens.sum();
    }

    String render() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP kiln_requests_total HTTP requests answered, by endpoint and status.\n");
        out.append("# TYPE kiln_requests_total counter\n");
        new TreeMap<>(requests).forEach((key, count) -> {
            String[] parts = key.split("\u0000");
            out.append("kiln_requests_total{endpoint=\"").append(parts[0]).append("\",status=\"").append(parts[1])
                    .append("\"} ").append(count.sum()).append('\n');
        });
        counter(out, "kiln_prompt_tokens_total", "Prompt tokens read.", promptTokens.sum());
        counter(out, "kiln_generation_tokens_total", "Tokens generated.", completionTokens.sum());
        counter(out, "kiln_cancelled_sequences_total", "Sequences stopped because their client went away.",
                cancelled.sum());
        gauge(out, "kiln_queue_length", "Sequences waiting for a slot.", queueLength.getAsInt());
        gauge(out, "kiln_active_slots", "Sequences holding a decoder slot.", activeSlots.getAsInt());
        timeToFirstToken.render(out, "kiln_time_to_first_token_seconds",
                "From a sequence's arrival to its first token.");
        interTokenLatency.render(out, "kiln_inter_token_latency_seconds", "Between consecutive tokens of a sequence.");
        batchSize.render(out, "kiln_batch_size", "Sequences in each batched decode step.");
        requestDuration.render(out, "kiln_request_duration_seconds", "From a generation request's arrival to its end.");
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(value).append('\n');
    }

    /** A cumulative histogram with fixed upper bounds. */
    static final class Histogram {
        private final double[] bounds;
        private final long[] counts;
        private double sum;
        private long count;

        Histogram(double... bounds) {
            this.bounds = bounds;
            this.counts = new long[bounds.length];
        }

        synchronized void observe(double value) {
            for (int i = 0; i < bounds.length; i++) {
                if (value <= bounds[i]) {
                    counts[i]++;
                }
            }
            sum += value;
            count++;
        }

        synchronized long count() {
            return count;
        }

        synchronized void render(StringBuilder out, String name, String help) {
            out.append("# HELP ").append(name).append(' ').append(help).append('\n');
            out.append("# TYPE ").append(name).append(" histogram\n");
            for (int i = 0; i < bounds.length; i++) {
                out.append(name).append("_bucket{le=\"").append(format(bounds[i])).append("\"} ").append(counts[i])
                        .append('\n');
            }
            out.append(name).append("_bucket{le=\"+Inf\"} ").append(count).append('\n');
            out.append(name).append("_sum ").append(format(sum)).append('\n');
            out.append(name).append("_count ").append(count).append('\n');
        }

        private static String format(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) + ".0"
                    : String.format(Locale.ROOT, "%s", v);
        }
    }
}
