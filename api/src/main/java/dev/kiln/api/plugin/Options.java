package dev.kiln.api.plugin;

import dev.kiln.api.ConfigException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A plugin's options as key → value strings, so that a CLI flag, a config file or a checkpoint's {@code config.json}
 * reaches any plugin unchanged. Each plugin documents its keys and rejects the ones it does not know
 * ({@link #requireOnly}), so a typo never passes silently.
 */
public record Options(Map<String, String> values) {
    public Options {
        values = Map.copyOf(values);
    }

    public static Options defaults() {
        return new Options(Map.of());
    }

    public static Options of(String... keyValues) {
        if (keyValues.length % 2 != 0) {
            throw new IllegalArgumentException("Options.of takes key, value pairs");
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put(keyValues[i], keyValues[i + 1]);
        }
        return new Options(map);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    public String string(String key, String fallback) {
        return values.getOrDefault(key, fallback);
    }

    public int intOption(String key, int fallback) {
        String value = values.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new ConfigException("option " + key + "=" + value + " is not a whole number");
        }
    }

    /** A required whole-number option. */
    public int intOption(String key) {
        if (!values.containsKey(key)) {
            throw new MissingOptionsException("plugin", List.of(key));
        }
        return intOption(key, 0);
    }

    /** Checks that every one of {@code keys} is given, naming all that are not in one error. */
    public void require(String pluginId, String... keys) {
        List<String> missing = Arrays.stream(keys).filter(k -> !values.containsKey(k)).toList();
        if (!missing.isEmpty()) {
            throw new MissingOptionsException(pluginId, missing);
        }
    }

    public double doubleOption(String key, double fallback) {
        String value = values.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new ConfigException("option " + key + "=" + value + " is not a number");
        }
    }

    public boolean booleanOption(String key, boolean fallback) {
        String value = values.get(key);
        if (value == null) {
            return fallback;
        }
        return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default -> throw new ConfigException("option " + key + "=" + value + " is not true or false");
        };
    }

    /** Rejects unknown keys, naming them and the known ones. */
    public void requireOnly(String pluginId, Set<String> knownKeys) {
        for (String key : values.keySet()) {
            if (!knownKeys.contains(key)) {
                throw new ConfigException("'" + pluginId + "' has no option '" + key + "'; its options: "
                        + String.join(", ", knownKeys.stream().sorted().toList()));
            }
        }
    }
}
