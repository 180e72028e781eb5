package dev.kiln.api.task;

/**
 * One record of the corpus: a non-blank line of a data file (a JSONL object, a TSV row) with where it came from, so
 * that a task's error about it can name the file and the line.
 */
public record TextRecord(String file, int line, String text) {
    /** "file:line", for error messages. */
    public String where() {
        return file + ":" + line;
    }
}
