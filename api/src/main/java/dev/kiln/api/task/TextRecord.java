package dev.kiln.api.task;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.util.Map;

/**
 * One record of the corpus: a non-blank line of a data file (a JSONL object, a TSV row) with where it came from, so
 * that a task's error about it can name the file and the line.
 */
public record TextRecord(String file, int line, String text) {
    /** "file:line", for error messages. */
    public String where() {
        return file + ":" + line;
    }

    /** The line as a JSON object (a JSONL record); malformed JSON or another kind of value is an error naming the line. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> jsonObject() {
        Object value;
        try {
            value = Json.parse(text, where());
        } catch (KilnException e) {
            throw new KilnException(e.getMessage() + " (a JSONL data file holds one JSON object per line)", e);
        }
        if (!(value instanceof Map<?, ?> map)) {
            throw new KilnException(where() + ": expected a JSON object, got " + (value == null ? "null"
                    : value instanceof String ? "a string" : value instanceof Number ? "a number"
                    : value instanceof Boolean ? "a boolean" : "an array"));
        }
        return (Map<String, Object>) map;
    }

    /** A string field of {@link #jsonObject()}; missing or not a string is an error naming the line and the field. */
    public String stringField(Map<String, Object> object, String field) {
        Object value = object.get(field);
        if (!(value instanceof String s)) {
            throw new KilnException(where() + ": field '" + field + "' " + (value == null ? "is missing"
                    : "must be a string") + " (fields here: " + object.keySet() + ")");
        }
        return s;
    }
}
