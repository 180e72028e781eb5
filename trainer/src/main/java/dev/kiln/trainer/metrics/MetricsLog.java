package dev.kiln.trainer.metrics;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code metrics.jsonl}: one JSON object a line, each with a {@code type} ({@code train}, {@code eval}, {@code skip})
 * and a {@code step}. Lines are flushed as they are written, so a crashed run keeps its history. It also keeps the
 * curves the loss chart draws.
 */
public final class MetricsLog implements AutoCloseable {
    private final Path file;
    private final Writer writer;
    private final List<double[]> trainLoss = new ArrayList<>();
    private final List<double[]> validationLoss = new ArrayList<>();

    private MetricsLog(Path file, Writer writer) {
        this.file = file;
        this.writer = writer;
    }

    /**
     * Opens {@code file} for appending. Lines of steps after {@code resumedStep} (written by a run that went on past
     * the checkpoint now resumed) are dropped first; a fresh run passes -1 and starts an empty file.
     */
    public static MetricsLog open(Path file, int resumedStep) {
        List<Map<?, ?>> kept = new ArrayList<>();
        try {
            if (resumedStep >= 0 && Files.isRegularFile(file)) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) {
                        continue;
                    }
                    if (Json.parse(line, file.toString()) instanceof Map<?, ?> record
                            && record.get("step") instanceof Number step && step.intValue() <= resumedStep) {
                        kept.add(record);
                    }
                }
            }
            Files.createDirectories(file.toAbsolutePath().getParent());
            Writer writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            MetricsLog log = new MetricsLog(file, writer);
            for (Map<?, ?> record : kept) {
                Map<String, Object> copy = new LinkedHashMap<>();
                record.forEach((k, v) -> copy.put((String) k, v));
                log.write(copy);
            }
            return log;
        } catch (IOException e) {
            throw new KilnException("cannot open metrics file " + file + ": " + e.getMessage(), e);
        }
    }

    /** A log that keeps its records in memory and writes no file (a data-parallel rank other than 0). */
    public static MetricsLog discarding() {
        return new MetricsLog(null, Writer.nullWriter());
    }

    /** Writes one record (which must have "type" and "step") and flushes it. */
    public void write(Map<String, Object> record) {
        Object type = record.get("type");
        double step = ((Number) record.get("step")).doubleValue();
        if ("train".equals(type)) {
            trainLoss.add(new double[] {step, number(record.get("loss"))});
        } else if ("eval".equals(type)) {
            validationLoss.add(new double[] {step, number(record.get("val_loss"))});
        }
        Map<String, Object> json = new LinkedHashMap<>();
        // JSON has no NaN or infinity: a diverged value is written as the string "NaN", "Infinity", ...
        record.forEach((key, value) -> json.put(key, value instanceof Double d && !Double.isFinite(d)
                ? d.toString() : value));
        try {
            writer.write(Json.write(json));
            writer.write('\n');
            writer.flush();
        } catch (IOException e) {
            throw new KilnException("cannot write metrics file " + file + ": " + e.getMessage(), e);
        }
    }

    private static double number(Object value) {
        return value instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /** (step, training loss) points, in order. */
    public List<double[]> trainLoss() {
        return trainLoss;
    }

    /** (step, validation loss) points, in order. */
    public List<double[]> validationLoss() {
        return validationLoss;
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        try {
            writer.close();
        } catch (IOException e) {
            throw new KilnException("cannot close metrics file " + file + ": " + e.getMessage(), e);
        }
    }
}
