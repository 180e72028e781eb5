package org.example.bigram;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import java.util.Set;

/** Provider id {@code bigram}: next-token logits looked up from the current token alone. */
public final class BigramModelProvider implements ModelProvider {
    @Override
    public String id() {
        return "bigram";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public LanguageModel create(Backend backend, Options hyperparameters, Generator generator) {
        hyperparameters.requireOnly("bigram", Set.of("vocab_size"));
        return new BigramModel(backend, hyperparameters.intOption("vocab_size"), generator);
    }
}
