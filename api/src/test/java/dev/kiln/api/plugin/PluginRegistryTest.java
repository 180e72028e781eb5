package dev.kiln.api.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import java.util.List;
import org.junit.jupiter.api.Test;

class PluginRegistryTest {
    record Fake(String id, int priority, Availability probe) implements Provider {
    }

    @Test
    void picksByIdAndByBestAvailablePriority() {
        PluginRegistry<Fake> registry = PluginRegistry.of("backend", List.of(
                new Fake("cpu", 10, Availability.yes()),
                new Fake("opencl", 20, Availability.no("no OpenCL platform")),
                new Fake("slow", 5, Availability.yes())));
        assertEquals("opencl", registry.get("opencl").id());
        assertEquals("cpu", registry.best().id(), "the unavailable higher-priority provider is skipped");
        assertEquals(List.of("cpu", "opencl", "slow"), registry.ids());
    }

    @Test
    void anUnknownIdListsTheKnownOnes() {
        PluginRegistry<Fake> registry = PluginRegistry.of("model", List.of(new Fake("gpt", 1, Availability.yes()),
                new Fake("lstm", 1, Availability.yes())));
        KilnException e = assertThrows(KilnException.class, () -> registry.get("gtp"));
        assertEquals("unknown model 'gtp'; known models: gpt, lstm", e.getMessage());
    }

    @Test
    void duplicateIdsAreRejected() {
        KilnException e = assertThrows(KilnException.class, () -> PluginRegistry.of("backend", List.of(
                new Fake("cpu", 1, Availability.yes()), new Fake("cpu", 2, Availability.yes()))));
        assertTrue(e.getMessage().contains("'cpu'"), e.getMessage());
    }

    @Test
    void noAvailableProviderExplainsEachReason() {
        PluginRegistry<Fake> registry = PluginRegistry.of("backend",
                List.of(new Fake("opencl", 1, Availability.no("no OpenCL platform"))));
        KilnException e = assertThrows(KilnException.class, registry::best);
        assertTrue(e.getMessage().contains("opencl (no OpenCL platform)"), e.getMessage());
    }
}
