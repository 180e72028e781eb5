package dev.kiln.api.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** JSONL records: a parsed object, or one error that names the file, the line and what is wrong. */
class TextRecordTest {
    @Test
    void aJsonlLineParsesToItsObjectAndItsFields() {
        TextRecord record = new TextRecord("pairs.jsonl", 7, "{\"source\": \"12\", \"target\": \"twelve\", \"n\": 1}");
        Map<String, Object> object = record.jsonObject();
        assertEquals("twelve", record.stringField(object, "target"));
        assertEquals("pairs.jsonl:7", record.where());
    }

    @Test
    void malformedLinesAndFieldsNameTheFileLineAndField() {
        KilnException broken = assertThrows(KilnException.class,
                () -> new TextRecord("pairs.jsonl", 3, "{\"source\": \"12\",").jsonObject());
        assertTrue(broken.getMessage().startsWith("pairs.jsonl:3") && broken.getMessage().contains("JSONL"),
                broken.getMessage());
        KilnException array = assertThrows(KilnException.class,
                () -> new TextRecord("pairs.jsonl", 4, "[1, 2]").jsonObject());
        assertTrue(array.getMessage().equals("pairs.jsonl:4: expected a JSON object, got an array"),
                array.getMessage());
        TextRecord record = new TextRecord("pairs.jsonl", 5, "{\"source\": 12}");
        Map<String, Object> object = record.jsonObject();
        KilnException notString = assertThrows(KilnException.class, () -> record.stringField(object, "source"));
        assertTrue(notString.getMessage().contains("pairs.jsonl:5") && notString.getMessage().contains("'source'")
                && notString.getMessage().contains("must be a string"), notString.getMessage());
        KilnException missing = assertThrows(KilnException.class, () -> record.stringField(object, "target"));
        assertTrue(missing.getMessage().contains("'target' is missing"), missing.getMessage());
    }
}
