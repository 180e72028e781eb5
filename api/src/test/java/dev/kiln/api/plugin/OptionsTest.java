package dev.kiln.api.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kiln.api.ConfigException;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptionsTest {
    @Test
    void everyMissingRequiredOptionIsNamedAtOnceWithItsSection() {
        Options given = Options.of("vocab_size", "50");
        MissingOptionsException missing = assertThrows(MissingOptionsException.class,
                () -> given.require("lstm", "vocab_size", "embed_size", "hidden_size"));
        assertEquals(List.of("embed_size", "hidden_size"), missing.missing());
        ConfigException named = missing.inSection("model");
        assertEquals("model 'lstm' needs the options model.embed_size, model.hidden_size (key=value arguments or the "
                + "model section of a config file)", named.getMessage());
        given.require("lstm", "vocab_size");
    }
}
