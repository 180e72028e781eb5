package dev.kiln.model.transformer;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;

/**
 * Provider id {@code gpt}. Options (Hugging Face GPT-2 names): {@code vocab_size}, {@code n_positions}, {@code n_layer},
 * {@code n_head}, {@code n_embd}, {@code dropout} (0), {@code activation_function} (gelu_new | relu), {@code bias}
 * (true), {@code positions} (learned | sinusoidal), {@code layer_norm_epsilon} (1e-5).
 */
public final class GptModelProvider implements ModelProvider {
    public static final String ID = "gpt";

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
        return new GptLanguageModel(backend, GptConfig.from(hyperparameters), generator);
    }
}
