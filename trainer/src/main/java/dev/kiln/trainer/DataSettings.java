package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;

/** The {@code data.*} section: where the corpus is, how much of its tail is held out, where caches live. */
public record DataSettings(String path, double valFraction, String cache) {
    public DataSettings {
        if (!(valFraction > 0 && valFraction < 1)) {
            throw new KilnException("data.val_fraction must be between 0 and 1 (exclusive), got " + valFraction);
        }
    }

    static DataSettings from(Options o) {
        try {
            return new DataSettings(o.string("path", ""), o.doubleOption("val_fraction", 0.1), o.string("cache", ""));
        } catch (KilnException e) {
            throw e.getMessage().startsWith("option ") ? new KilnException("data: " + e.getMessage()) : e;
        }
    }
}
