package dev.kiln.model.seq2seq;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;

/**
 * Provider id {@code seq2seq}: the seeds' encoder-decoder Transformer. Options (PyTorch {@code nn.Transformer}'s names
 * and defaults): {@code vocab_size}, {@code d_model} (512), {@code nhead} (8), {@code num_encoder_layers} (6),
 * {@code num_decoder_layers} (6), {@code dim_feedforward} (2048), {@code dropout} (0.1), {@code activation}
 * (relu | gelu), {@code norm_first} (false), {@code layer_norm_eps} (1e-5); and {@code positions} (none |
 * sinusoidal | learned; default none, as in the seed) with {@code max_len} (512). It trains with the task
 * {@code seq2seq} on paired data.
 */
public final class Seq2SeqModelProvider implements ModelProvider {
    public static final String ID = "seq2seq";

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
        return new Seq2SeqTransformer(backend, Seq2SeqConfig.from(hyperparameters), generator);
    }
}
