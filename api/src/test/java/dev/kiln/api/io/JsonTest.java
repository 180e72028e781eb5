package dev.kiln.api.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void parsesAndWritesBackTheSameValue() {
        String text = "{\"a\":[1,2.5,-3e-2,true,false,null],\"b\":{\"c\":\"x\\\"y\\u00e9\\n\"},\"n\":-7}";
        Object value = Json.parse(text, "test");
        Map<?, ?> map = (Map<?, ?>) value;
        assertEquals(List.of(1L, 2.5, -0.03, true, false), ((List<?>) map.get("a")).subList(0, 5));
        assertEquals("x\"yé\n", ((Map<?, ?>) map.get("b")).get("c"));
        assertEquals(value, Json.parse(Json.write(value), "again"));
    }

    @Test
    void errorsNameTheSourceAndLine() {
        KilnException e = assertThrows(KilnException.class, () -> Json.parse("{\n\"a\": 1,\n\"a\": 2}", "config.json"));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("line 3")
                && e.getMessage().contains("duplicate"), e.getMessage());
        assertThrows(KilnException.class, () -> Json.parse("[1, 2", "x"));
        assertThrows(KilnException.class, () -> Json.parse("{} extra", "x"));
    }

    @Test
    void refusesValuesJsonCannotHold() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("nan", Double.NaN);
        assertThrows(KilnException.class, () -> Json.write(map));
    }
}
