package dev.kiln.model.lstm;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;

/**
 * Provider id {@code lstm}. Options: {@code vocab_size}, {@code embed_size}, {@code hidden_size}, {@code num_layers}
 * (default 1), {@code dropout} (0), {@code tie_weights} (false).
 */
public final class LstmModelProvider implements ModelProvider {
    public static final String ID = "lstm";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 1;
    }

    @Override
    public LanguageModel create(Backend backend, Options hyperparameters, Generator generator) {
        return new LstmLanguageModel(backend, LstmConfig.from(hyperparameters), generator);
    }
}
