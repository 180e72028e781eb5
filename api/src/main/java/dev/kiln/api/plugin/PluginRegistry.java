package dev.kiln.api.plugin;

import dev.kiln.api.ConfigException;
import dev.kiln.api.KilnException;
import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The providers of one kind, by id. Built explicitly — from a list (tests), from {@link ServiceLoader} over a module
 * layer, or from a folder of plugin jars loaded into a layer of their own — never from a static initialiser.
 *
 * @param <P> the provider interface, e.g. {@code BackendProvider}
 */
public final class PluginRegistry<P extends Provider> {
    private final String kind;
    private final Map<String, P> byId;

    private PluginRegistry(String kind, List<P> providers) {
        this.kind = kind;
        Map<String, P> map = new LinkedHashMap<>();
        for (P provider : providers) {
            P previous = map.putIfAbsent(provider.id(), provider);
            if (previous != null) {
                throw new KilnException("two " + kind + " providers share the id '" + provider.id() + "': "
                        + previous.getClass().getName() + " and " + provider.getClass().getName());
            }
        }
        this.byId = Collections.unmodifiableMap(map);
    }

    /** A registry of exactly these providers. */
    public static <P extends Provider> PluginRegistry<P> of(String kind, List<P> providers) {
        return new PluginRegistry<>(kind, List.copyOf(providers));
    }

    /** Every provider of {@code type} visible from {@code layer} (and its parents), as declared by {@code provides}. */
    public static <P extends Provider> PluginRegistry<P> load(String kind, Class<P> type, ModuleLayer layer) {
        List<P> found = new ArrayList<>();
        try {
            ServiceLoader.load(layer, type).forEach(found::add);
        } catch (ServiceConfigurationError e) {
            throw new KilnException("a " + kind + " plugin failed to load: " + e.getMessage(), e);
        }
        return new PluginRegistry<>(kind, found);
    }

    /**
     * Loads the modular jars in {@code folder} into a new layer above {@code parent} and returns that layer, so that
     * plugins built outside Kiln are found with no rebuild.
     */
    public static ModuleLayer pluginLayer(Path folder, ModuleLayer parent) {
        if (!Files.isDirectory(folder)) {
            throw new KilnException("plugin folder " + folder + " does not exist or is not a directory");
        }
        try {
            ModuleFinder finder = ModuleFinder.of(folder);
            Set<String> roots = finder.findAll().stream()
                    .map(ModuleReference::descriptor)
                    .map(descriptor -> descriptor.name())
                    .collect(Collectors.toSet());
            Configuration configuration = parent.configuration().resolveAndBind(finder, ModuleFinder.of(), roots);
            return parent.defineModulesWithOneLoader(configuration, ClassLoader.getSystemClassLoader());
        } catch (RuntimeException e) {
            throw new KilnException("cannot load the plugins in " + folder + ": " + e.getMessage(), e);
        }
    }

    /** Lists what a folder holds, for error messages. */

    public String kind() {
        return kind;
    }

    /** Known ids, in discovery order. */
    public List<String> ids() {
        return List.copyOf(byId.keySet());
    }

    public List<P> providers() {
        return List.copyOf(byId.values());
    }

    public Optional<P> find(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /** The provider with this id; an unknown id is an error that lists the known ones. */
    public P get(String id) {
        P provider = byId.get(id);
        if (provider == null) {
            throw new ConfigException("unknown " + kind + " '" + id + "'; known " + kind + "s: "
                    + (byId.isEmpty() ? "(none)" : String.join(", ", byId.keySet())));
        }
        return provider;
    }

    /** The available provider of highest priority (ties: the first discovered); if none is available, says why. */
    public P best() {
        return byId.values().stream()
                .filter(p -> p.probe().available())
                .max(Comparator.comparingInt(Provider::priority))
                .orElseThrow(() -> new KilnException("no " + kind + " is available: " + byId.values().stream()
                        .map(p -> p.id() + " (" + p.probe().reason() + ")")
                        .collect(Collectors.joining(", "))));
    }
}
