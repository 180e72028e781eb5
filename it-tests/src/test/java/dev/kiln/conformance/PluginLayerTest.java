package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Plugins from a folder load into a module layer of their own, and the registry sees them with the boot layer's. */
class PluginLayerTest {

    @Test
    void aPluginFolderBecomesALayerAndDuplicateIdsAreRejected() {
        // a second copy of the tokenizer module, as a user would drop it into plugins/
        Path folder = Path.of(System.getProperty("kiln.classes.tokenizer-bpe"));
        ModuleLayer layer = PluginRegistry.pluginLayer(folder, ModuleLayer.boot());
        assertTrue(layer.findModule("dev.kiln.tokenizer.bpe").isPresent());
        assertTrue(layer.findModule("dev.kiln.tokenizer.bpe").get().getLayer() == layer, "loaded in the new layer");
        KilnException e = assertThrows(KilnException.class,
                () -> PluginRegistry.load("tokenizer", TokenizerProvider.class, layer));
        assertTrue(e.getMessage().contains("share the id"), e.getMessage());
        // the boot layer alone stays as it was
        assertEquals(2, PluginRegistry.load("tokenizer", TokenizerProvider.class, ModuleLayer.boot()).ids().size());
    }

    @Test
    void aMissingPluginFolderIsAClearError(@TempDir Path dir) {
        KilnException e = assertThrows(KilnException.class,
                () -> PluginRegistry.pluginLayer(dir.resolve("plugins"), ModuleLayer.boot()));
        assertTrue(e.getMessage().contains("plugins") && e.getMessage().contains("does not exist"), e.getMessage());
    }
}
