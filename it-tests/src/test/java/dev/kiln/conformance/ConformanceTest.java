package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.task.TaskProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The conformance kit over every backend the module layer provides, and the exact set of provider ids. */
class ConformanceTest {
    private static final List<Backend> OPEN = new ArrayList<>();

    @Test
    void theBuildProvidesExactlyTheseBackends() {
        assertEquals(Set.of("cpu", "opencl"), Set.copyOf(Backends.builtIn().ids()),
                "a missing or extra 'provides' in a module-info changes this set");
    }

    @Test
    void theBuildProvidesExactlyTheseModels() {
        assertEquals(Set.of("lstm", "gpt", "seq2seq"), Set.copyOf(ModelParityTest.models().ids()));
    }

    @Test
    void theBuildProvidesExactlyTheseTasks() {
        assertEquals(Set.of("lm", "seq2seq", "sft"), Set.copyOf(PluginRegistry.load("task", TaskProvider.class, ModuleLayer.boot()).ids()));
    }

    @Test
    void theBuildProvidesExactlyTheseTokenizers() {
        assertEquals(Set.of("bpe", "char"), Set.copyOf(TokenizerExactnessTest.tokenizers().ids()));
    }

    @Test
    void anUnknownBackendIdListsTheKnownOnes() {
        KilnException e = assertThrows(KilnException.class, () -> Backends.registry().get("cuda"));
        assertTrue(e.getMessage().contains("cuda") && e.getMessage().contains("cpu"), e.getMessage());
    }

    @Test
    void aTypoInABackendOptionIsAnError() {
        KilnException e = assertThrows(KilnException.class,
                () -> Backends.registry().get("cpu").create(Options.of("thread", "2")));
        assertTrue(e.getMessage().contains("thread") && e.getMessage().contains("threads"), e.getMessage());
    }

    @Test
    void everyBackendProbesWithoutThrowing() {
        Backends.registry().providers().forEach(p -> assertFalse(p.probe() == null, p.id()));
        assertTrue(Backends.registry().best().probe().available());
    }

    /** The pom's second run of this class names a vector width; the cpu backend must really run at it. */
    @Test
    void theCpuBackendRunsAtTheVectorWidthTheJvmNames() throws Exception {
        String bits = System.getProperty("kiln.cpu.vectorBits");
        if (bits != null && !bits.isBlank()) {
            try (Backend cpu = Backends.registry().get("cpu").create(Options.defaults())) {
                assertTrue(cpu.toString().contains("vector.bits=" + bits.trim()), cpu.toString());
            }
        }
    }

    /** CI installs PoCL and sets KILN_REQUIRE_OPENCL, so that the kit can never be skipped there silently. */
    @Test
    void openClIsAvailableWhereItIsRequired() {
        if ("1".equals(System.getenv("KILN_REQUIRE_OPENCL"))) {
            var probe = Backends.registry().get("opencl").probe();
            assertTrue(probe.available(), "opencl: " + probe.reason());
        }
    }

    @TestFactory
    Stream<DynamicNode> conformanceKit() {
        return Backends.configurations().stream().map(c -> {
            Backend backend = c.provider().create(c.config());
            OPEN.add(backend);
            // the backend's own description in the name, so a report says which vector width or device ran
            return dynamicContainer(c.label() + ": " + backend, BackendConformanceKit.tests(backend));
        });
    }

    @AfterAll
    static void closeBackends() {
        OPEN.forEach(Backend::close);
    }
}
