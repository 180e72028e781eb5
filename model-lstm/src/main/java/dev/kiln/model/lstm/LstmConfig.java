package dev.kiln.model.lstm;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;
import java.util.Set;

/**
 * The LSTM language model's hyperparameters, named as in PyTorch's {@code nn.Embedding}/{@code nn.LSTM}.
 *
 * @param dropout     applied to the output of every LSTM layer but the last, in training (nn.LSTM's dropout)
 * @param tieWeights  the output layer reuses the embedding matrix (needs embedSize == hiddenSize)
 */
public record LstmConfig(int vocabSize, int embedSize, int hiddenSize, int numLayers, float dropout, boolean tieWeights) {
    /** Defaults that train on the bundled corpus in a couple of minutes, so that {@code --model lstm} just works. */
    static final int DEFAULT_EMBED_SIZE = 128;
    static final int DEFAULT_HIDDEN_SIZE = 256;

    static final Set<String> KEYS = Set.of("vocab_size", "embed_size", "hidden_size", "num_layers", "dropout",
            "tie_weights");

    public LstmConfig {
        if (vocabSize < 1 || embedSize < 1 || hiddenSize < 1 || numLayers < 1) {
            throw new KilnException("lstm: vocab_size, embed_size, hidden_size and num_layers must be positive, got "
                    + vocabSize + ", " + embedSize + ", " + hiddenSize + ", " + numLayers);
        }
        if (dropout < 0 || dropout >= 1) {
            throw new KilnException("lstm: dropout must be in [0, 1), got " + dropout);
        }
        if (tieWeights && embedSize != hiddenSize) {
            throw new KilnException("lstm: tie_weights needs embed_size == hidden_size, got " + embedSize + " and "
                    + hiddenSize);
        }
    }

    /** Reads the keys of {@link #KEYS}; metadata keys that describe the data (batch, seed…) are not allowed here. */
    public static LstmConfig from(Options options) {
        options.requireOnly("lstm", KEYS);
        options.require("lstm", "vocab_size");
        return new LstmConfig(options.intOption("vocab_size"), options.intOption("embed_size", DEFAULT_EMBED_SIZE),
                options.intOption("hidden_size", DEFAULT_HIDDEN_SIZE), options.intOption("num_layers", 1),
                (float) options.doubleOption("dropout", 0), options.booleanOption("tie_weights", false));
    }

    public Options toOptions() {
        return Options.of("vocab_size", Integer.toString(vocabSize), "embed_size", Integer.toString(embedSize),
                "hidden_size", Integer.toString(hiddenSize), "num_layers", Integer.toString(numLayers),
                "dropout", Float.toString(dropout), "tie_weights", Boolean.toString(tieWeights));
    }
}
