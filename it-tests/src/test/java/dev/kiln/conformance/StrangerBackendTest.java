package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;

/**
 * The conformance kit over a backend built outside Kiln from the api alone (src/test/plugin-src/org.example.scalar):
 * compiled with javac, jarred, loaded as a plugin layer — what {@code -Dkiln.kit.plugins=DIR} does for a stranger's
 * jar. Its primitives are plain loops and it registers no fused kernel, so every fused operation runs its composition.
 */
class StrangerBackendTest {
    private static Backend backend;

    @TestFactory
    Stream<DynamicNode> theKitRunsOnABackendJarBuiltElsewhere() throws Exception {
        Path dir = Files.createTempDirectory("kiln-stranger");
        Path plugins = CliTest.buildOutsidePlugin(dir, "org.example.scalar");
        PluginRegistry<BackendProvider> registry = PluginRegistry.load("backend", BackendProvider.class,
                PluginRegistry.pluginLayer(plugins, ModuleLayer.boot()));
        backend = registry.get("scalar").create(Options.defaults());
        assertEquals(0, backend.kernels().operations().size(), "a primitives-only backend registers no kernel");
        return BackendConformanceKit.tests(backend);
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }
}
