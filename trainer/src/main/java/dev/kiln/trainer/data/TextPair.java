package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.task.TextRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A source and its target, read from one record of paired data: a JSONL object ({@code {"source": …, "target": …}},
 * field names configurable) or a TSV row of exactly two columns, decided per file by its name ({@code .jsonl} and
 * {@code .json} are JSON lines, anything else is TSV). A malformed record is an error naming the file, the line and
 * what is wrong.
 */
public record TextPair(String source, String target, String where) {
    /** Every record's pair, in order. */
    public static List<TextPair> parse(List<TextRecord> records, String sourceField, String targetField) {
        List<TextPair> pairs = new ArrayList<>(records.size());
        for (TextRecord record : records) {
            pairs.add(parse(record, sourceField, targetField));
        }
        return pairs;
    }

    public static TextPair parse(TextRecord record, String sourceField, String targetField) {
        String file = record.file().toLowerCase(java.util.Locale.ROOT);
        if (file.endsWith(".jsonl") || file.endsWith(".json")) {
            Map<String, Object> object = record.jsonObject();
            return new TextPair(record.stringField(object, sourceField), record.stringField(object, targetField),
                    record.where());
        }
        String text = record.text();
        int tab = text.indexOf('\t');
        if (tab < 0 || text.indexOf('\t', tab + 1) >= 0) {
            throw new KilnException(record.where() + ": a TSV pair needs exactly two tab-separated columns (source, "
                    + "target), found " + (tab < 0 ? 1 : text.split("\t", -1).length) + " (paired data is JSONL with source "
                    + "and target, or TSV; see examples/numbers-to-words)");
        }
        return new TextPair(text.substring(0, tab), text.substring(tab + 1), record.where());
    }
}
