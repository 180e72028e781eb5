package org.example.bigram;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/** The smallest language model: a (vocab, vocab) table of next-token logits. */
public final class BigramModel extends LanguageModel {
    private final int vocab;
    private final Embedding table;

    BigramModel(Backend backend, int vocab, Generator generator) {
        this.vocab = vocab;
        this.table = registerModule("table", new Embedding(backend, vocab, vocab, generator));
    }

    @Override
    public String modelId() {
        return "bigram";
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public Options hyperparameters() {
        return Options.of("vocab_size", Integer.toString(vocab));
    }

    @Override
    public Tensor forward(Tensor ids) {
        return table.forward(ids);                                     // (B, T) → (B, T, vocab)
    }

    @Override
    public Decoder decoder(int batch) {
        return ids -> lastPosition(forward(ids));
    }
}
