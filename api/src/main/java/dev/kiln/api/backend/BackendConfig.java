package dev.kiln.api.backend;

import dev.kiln.api.KilnException;
import java.util.Map;
import java.util.Set;

/**
 * Backend options as key → value strings, so that a CLI flag or a config file reaches any backend unchanged. Each
 * backend documents its keys and rejects the ones it does not know ({@link #requireOnly}).
 */
public record BackendConfig(Map<String, String> options) {
    public BackendConfig {
        options = Map.copyOf(options);
    }

    public static BackendConfig defaults() {
        return new BackendConfig(Map.of());
    }

    public static BackendConfig of(String... keyValues) {
        if (keyValues.length % 2 != 0) {
            throw new IllegalArgumentException("BackendConfig.of takes key, value pairs");
        }
        Map<String, String> map = new java.util.LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put(keyValues[i], keyValues[i + 1]);
        }
        return new BackendConfig(map);
    }

    public int intOption(String key, int fallback) {
        String value = options.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new KilnException("backend option " + key + "=" + value + " is not a whole number");
        }
    }

    /** Rejects unknown keys, naming them and the known ones: a typo never passes silently. */
    public void requireOnly(String backendId, Set<String> knownKeys) {
        for (String key : options.keySet()) {
            if (!knownKeys.contains(key)) {
                throw new KilnException("backend '" + backendId + "' has no option '" + key + "'; its options: "
                        + String.join(", ", knownKeys.stream().sorted().toList()));
            }
        }
    }
}
