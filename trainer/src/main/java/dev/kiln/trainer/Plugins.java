package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.distributed.CommunicatorProvider;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.plugin.Availability;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.task.TaskProvider;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.util.List;

/**
 * The four registries a run draws from. Built from a module layer (the boot layer, or a {@code plugins/} folder's
 * layer above it) or, in tests, from explicit providers: discovery is injected, never static.
 */
public record Plugins(PluginRegistry<BackendProvider> backends, PluginRegistry<ModelProvider> models,
                      PluginRegistry<TokenizerProvider> tokenizers, PluginRegistry<TaskProvider> tasks,
                      PluginRegistry<CommunicatorProvider> communicators) {

    /** Without communicator plugins: every run is one process. */
    public Plugins(PluginRegistry<BackendProvider> backends, PluginRegistry<ModelProvider> models,
                   PluginRegistry<TokenizerProvider> tokenizers, PluginRegistry<TaskProvider> tasks) {
        this(backends, models, tokenizers, tasks, PluginRegistry.of("communicator", List.of()));
    }

    /**
     * The communicator of this process: the best available plugin's when the process was started as a rank of a job
     * (by mpirun), else one process on its own.
     */
    public Communicator joinRanks() {
        for (CommunicatorProvider provider : communicators.providers()) {
            if (provider.probe().available()) {
                return provider.create(Options.defaults());
            }
        }
        return Communicator.single();
    }

    /** Creates the backend with this id, or says why it cannot be had here (unknown id, or unavailable and why). */
    public Backend backend(String id, Options options) {
        return availableBackend(id).create(options);
    }

    /** The backend provider with this id if it can work here; otherwise an error saying why (cheap: a probe). */
    public BackendProvider availableBackend(String id) {
        BackendProvider provider = backends.get(id);
        Availability availability = provider.probe();
        if (!availability.available()) {
            throw new KilnException("backend " + id + " is not available here: " + availability.reason());
        }
        return provider;
    }

    /** Every provider visible from {@code layer} and its parents. */
    public static Plugins load(ModuleLayer layer) {
        return new Plugins(PluginRegistry.load("backend", BackendProvider.class, layer),
                PluginRegistry.load("model", ModelProvider.class, layer),
                PluginRegistry.load("tokenizer", TokenizerProvider.class, layer),
                PluginRegistry.load("task", TaskProvider.class, layer),
                PluginRegistry.load("communicator", CommunicatorProvider.class, layer));
    }
}
