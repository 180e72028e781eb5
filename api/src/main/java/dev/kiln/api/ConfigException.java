package dev.kiln.api;

/**
 * A mistake in how Kiln was asked to run rather than in its data or its machine: an unknown or misspelt config key,
 * a value of the wrong kind, a missing option, an unknown plugin id. The command line exits 2 for it, as for a
 * mistake in its own flags.
 */
public class ConfigException extends KilnException {
    public ConfigException(String message) {
        super(message);
    }
}
