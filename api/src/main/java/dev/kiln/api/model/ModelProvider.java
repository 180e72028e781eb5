package dev.kiln.api.model;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;
import dev.kiln.api.tensor.Generator;

/** A model plugin: {@code provides dev.kiln.api.model.ModelProvider with ...} in its module-info. */
public interface ModelProvider extends Provider {
    /**
     * Builds a freshly initialised model from hyperparameters (unknown keys are errors), its parameters drawn from
     * {@code generator}.
     */
    LanguageModel create(Backend backend, Options hyperparameters, Generator generator);
}
