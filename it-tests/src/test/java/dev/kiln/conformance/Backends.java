package dev.kiln.conformance;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.PluginRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The backends under test, found the way users find them: ServiceLoader over the module layer — this build's, plus the
 * jars in the folder named by the system property {@code kiln.kit.plugins} (Maven: {@code -Dkiln.kit.plugins=DIR}),
 * which is how a stranger runs the conformance kit on a backend of their own.
 */
final class Backends {
    private static final String PLUGINS = System.getProperty("kiln.kit.plugins", "").trim();
    private static final ModuleLayer LAYER = PLUGINS.isEmpty() ? ModuleLayer.boot()
            : PluginRegistry.pluginLayer(Path.of(PLUGINS), ModuleLayer.boot());

    private Backends() {
    }

    static PluginRegistry<BackendProvider> registry() {
        return PluginRegistry.load("backend", BackendProvider.class, LAYER);
    }

    /** The backends this build ships, without any from kiln.kit.plugins. */
    static PluginRegistry<BackendProvider> builtIn() {
        return PluginRegistry.load("backend", BackendProvider.class, ModuleLayer.boot());
    }

    /** Every configuration the conformance kit must pass: each backend, and the cpu backend in scalar mode too. */
    static List<Configured> configurations() {
        List<Configured> out = new ArrayList<>();
        for (BackendProvider provider : registry().providers()) {
            if (!provider.probe().available()) {
                continue;
            }
            if (provider.id().equals("opencl")) {
                out.add(new Configured("opencl", provider, Options.defaults()));
                // the other matmul kernel than the device's default (the GPU one when PoCL runs the tests)
                out.add(new Configured("opencl (tiled matmul)", provider, Options.of("matmul", "tiled")));
                out.add(new Configured("opencl (rows matmul)", provider, Options.of("matmul", "rows")));
                continue;
            }
            if (!provider.id().equals("cpu")) {
                out.add(new Configured(provider.id(), provider, Options.defaults()));
                continue;
            }
            out.add(new Configured(provider.id(), provider, Options.of("threads", "2")));
            {
                out.add(new Configured("cpu (scalar)", provider, Options.of("threads", "2", "vector.bits", "0")));
                out.add(new Configured("cpu (1 thread)", provider, Options.of("threads", "1")));
                // outputs allocated uninitialized start as NaN: an operation that leaves part of one unwritten fails
                out.add(new Configured("cpu (poisoned outputs)", provider, Options.of("threads", "2", "poison", "true")));
            }
        }
        return out;
    }

    record Configured(String label, BackendProvider provider, Options config) {
    }
}
