package dev.kiln.api.plugin;

import dev.kiln.api.ConfigException;
import java.util.List;

/**
 * A plugin was given none of some options it cannot do without. It names all of them at once; the caller, which
 * knows the config section the options came from, can name them with their prefix ({@link #inSection}).
 */
public final class MissingOptionsException extends ConfigException {
    private final String pluginId;
    private final List<String> missing;

    public MissingOptionsException(String pluginId, List<String> missing) {
        super("'" + pluginId + "' needs the option" + (missing.size() == 1 ? " " : "s ") + String.join(", ", missing));
        this.pluginId = pluginId;
        this.missing = List.copyOf(missing);
    }

    public List<String> missing() {
        return missing;
    }

    /** The same error, the options named as the config writes them ({@code model.embed_size}). */
    public ConfigException inSection(String section) {
        List<String> keys = missing.stream().map(k -> section + "." + k).toList();
        return new ConfigException(section + " '" + pluginId + "' needs the option" + (keys.size() == 1 ? " " : "s ")
                + String.join(", ", keys) + " (key=value arguments or the " + section + " section of a config file)");
    }
}
