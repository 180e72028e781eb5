package dev.kiln.api.task;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A model's scores on held-out data: the loss (mean nats per scored target) that early stopping and "best" compare,
 * and the task's own metrics in the order it reports them (for {@code lm}: perplexity, bits_per_byte, accuracy,
 * tokens, bytes). Metrics files name each {@code val_<name>}.
 */
public record Evaluation(double loss, Map<String, Double> metrics) {
    public Evaluation {
        metrics = Collections.unmodifiableMap(new LinkedHashMap<>(metrics));
    }

    /** A metric, or NaN when this task does not report it. */
    public double metric(String name) {
        return metrics.getOrDefault(name, Double.NaN);
    }
}
