package dev.kiln.trainer.metrics;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.io.IOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code metrics.jsonl}: one JSON object a line, each with a {@code type} ({@code train}, {@code eval}, {@code skip},
 * {@code resume}) and a {@code step}. The file is only ever appended to, and each line is flushed as it is written, so
 * a crashed run keeps its history and no kill can cut it short. A resumed run appends a {@code resume} record naming
 * the step it went back to; {@link #read} therefore drops the records past that step written before it (they belong
 * to steps run again) and takes the last record of each step. A line torn by a kill mid-write is dropped with a note.
 * The log also keeps the curves the loss chart draws.
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

    /** What a metrics file says, read tolerantly: its effective records in step order, and what was skipped. */
    public record Contents(List<Map<String, Object>> records, List<String> notes) {
        /** The records of one type ({@code train}, {@code eval}, ...). */
        public List<Map<String, Object>> ofType(String type) {
            return records.stream().filter(r -> type.equals(r.get("type"))).toList();
        }
    }

    /**
     * Reads a metrics file: lines that are not a JSON object with a type and a whole step (a torn last line, say) are
     * skipped and noted; a {@code resume} record drops the records before it whose step is past its own; a later
     * record of the same type and step replaces an earlier one. A missing file has no records.
     */
    public static Contents read(Path file) {
        List<String> notes = new ArrayList<>();
        Map<String, Map<String, Object>> byTypeAndStep = new LinkedHashMap<>();
        if (!Files.isRegularFile(file)) {
            return new Contents(List.of(), notes);
        }
        List<String> lines;
        try {
            lines = List.of(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).split("\n", -1));
        } catch (IOException e) {
            throw new KilnException("cannot read metrics file " + file + ": " + e.getMessage(), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> record = parseRecord(line, file);
            if (record == null) {
                notes.add(file + " line " + (i + 1) + (i == lines.size() - 1 ? " was cut short (a run killed while "
                        + "writing it); dropped" : " is not a metrics record; skipped"));
                continue;
            }
            int step = ((Number) record.get("step")).intValue();
            if ("resume".equals(record.get("type"))) {
                byTypeAndStep.values().removeIf(r -> ((Number) r.get("step")).intValue() > step);
                continue;
            }
            byTypeAndStep.put(record.get("type") + "@" + step, record);
        }
        List<Map<String, Object>> records = new ArrayList<>(byTypeAndStep.values());
        records.sort(Comparator.comparingInt(r -> ((Number) r.get("step")).intValue()));
        return new Contents(records, notes);
    }

    private static Map<String, Object> parseRecord(String line, Path file) {
        try {
            if (Json.parse(line, file.toString()) instanceof Map<?, ?> map && map.get("type") instanceof String
                    && map.get("step") instanceof Long) {
                Map<String, Object> record = new LinkedHashMap<>();
                map.forEach((k, v) -> record.put((String) k, v));
                return record;
            }
        } catch (KilnException e) {
            // not JSON: the caller notes it
        }
        return null;
    }

    /**
     * Opens {@code file} for appending. A fresh run ({@code resumedStep} -1) starts it; a resumed run (or a run started
     * again from step 0) first cuts off a torn last line, then appends a {@code resume} record, so that readers drop
     * what the earlier process logged past the checkpoint. The loss chart's curves start from the file's effective
     * records up to that step. {@code notes} receives what was repaired.
     */
    public static MetricsLog open(Path file, int resumedStep, Consumer<String> notes) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            boolean continuing = Files.isRegularFile(file) && Files.size(file) > 0;
            Contents earlier = continuing ? read(file) : new Contents(List.of(), List.of());
            if (continuing) {
                dropTornLastLine(file, notes);
            }
            Writer writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            MetricsLog log = new MetricsLog(file, writer);
            if (continuing || resumedStep >= 0) {
                int from = Math.max(resumedStep, 0);
                for (Map<String, Object> record : earlier.records()) {
                    if (((Number) record.get("step")).intValue() <= from) {
                        log.remember(record);
                    }
                }
                Map<String, Object> marker = new LinkedHashMap<>();
                marker.put("type", "resume");
                marker.put("step", from);
                marker.put("time", Instant.now().toString());
                log.append(marker);
            }
            return log;
        } catch (IOException e) {
            throw new KilnException("cannot open metrics file " + file + ": " + e.getMessage(), e);
        }
    }

    /** A kill mid-line leaves bytes after the last newline: they are cut off (nothing before them is touched). */
    private static void dropTornLastLine(Path file, Consumer<String> notes) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = channel.size();
            long keep = 0;                                                   // just past the last newline
            ByteBuffer chunk = ByteBuffer.allocate(4096);
            search:
            for (long end = size; end > 0; end -= chunk.capacity()) {
                long begin = Math.max(0, end - chunk.capacity());
                chunk.clear().limit((int) (end - begin));
                while (chunk.hasRemaining() && channel.read(chunk, begin + chunk.position()) >= 0) {
                    // fill the chunk
                }
                for (int i = (int) (end - begin) - 1; i >= 0; i--) {
                    if (chunk.get(i) == '\n') {
                        keep = begin + i + 1;
                        break search;
                    }
                }
            }
            if (keep < size) {
                channel.truncate(keep);
                channel.force(true);
                notes.accept(file + ": its last line was cut short (a run killed while writing it); dropped "
                        + (size - keep) + " bytes");
            }
        }
    }

    /** A log that keeps its records in memory and writes no file (a data-parallel rank other than 0). */
    public static MetricsLog discarding() {
        return new MetricsLog(null, Writer.nullWriter());
    }

    /** Writes one record (which must have "type" and "step") and flushes it. */
    public void write(Map<String, Object> record) {
        remember(record);
        append(record);
    }

    /** Adds a record to the chart's curves. */
    private void remember(Map<String, Object> record) {
        Object type = record.get("type");
        double step = ((Number) record.get("step")).doubleValue();
        if ("train".equals(type)) {
            trainLoss.add(new double[] {step, number(record.get("loss"))});
        } else if ("eval".equals(type)) {
            validationLoss.add(new double[] {step, number(record.get("val_loss"))});
        }
    }

    private void append(Map<String, Object> record) {
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
