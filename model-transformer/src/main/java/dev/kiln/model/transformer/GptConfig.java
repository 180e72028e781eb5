package dev.kiln.model.transformer;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;
import java.util.Locale;
import java.util.Set;

/**
 * GPT hyperparameters under Hugging Face GPT-2's config names, so a GPT-2 {@code config.json} reads directly.
 *
 * @param activation  {@code gelu_new} (GPT-2's tanh approximation) or {@code relu}
 * @param bias        biases in the linear layers and layer norms' shift (GPT-2: true)
 * @param positions   {@code learned} (GPT-2's wpe) or {@code sinusoidal} (fixed, not a parameter)
 * @param norm        {@code layernorm} (GPT-2's) or {@code rmsnorm} (a weight and no bias, as LLaMA's)
 */
public record GptConfig(int vocabSize, int contextLength, int layers, int heads, int width, float dropout,
                        String activation, boolean bias, String positions, float layerNormEps, String norm) {
    static final Set<String> KEYS = Set.of("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "dropout",
            "activation_function", "bias", "positions", "layer_norm_epsilon", "norm");

    /** GPT-2's layer norm. */
    public GptConfig(int vocabSize, int contextLength, int layers, int heads, int width, float dropout,
                     String activation, boolean bias, String positions, float layerNormEps) {
        this(vocabSize, contextLength, layers, heads, width, dropout, activation, bias, positions, layerNormEps,
                "layernorm");
    }

    public GptConfig {
        if (vocabSize < 1 || contextLength < 1 || layers < 1 || heads < 1 || width < 1) {
            throw new KilnException("gpt: vocab_size, n_positions, n_layer, n_head and n_embd must be positive");
        }
        if (width % heads != 0) {
            throw new KilnException("gpt: n_embd " + width + " is not divisible by n_head " + heads);
        }
        if (!Set.of("gelu_new", "relu").contains(activation)) {
            throw new KilnException("gpt: activation_function must be gelu_new or relu, got " + activation);
        }
        if (!Set.of("learned", "sinusoidal").contains(positions)) {
            throw new KilnException("gpt: positions must be learned or sinusoidal, got " + positions);
        }
        if (!Set.of("layernorm", "rmsnorm").contains(norm)) {
            throw new KilnException("gpt: norm must be layernorm or rmsnorm, got " + norm);
        }
        if (dropout < 0 || dropout >= 1) {
            throw new KilnException("gpt: dropout must be in [0, 1), got " + dropout);
        }
    }

    public int headSize() {
        return width / heads;
    }

    public static GptConfig from(Options o) {
        o.requireOnly("gpt", KEYS);
        String activation = o.string("activation_function", "gelu_new").toLowerCase(Locale.ROOT);
        if (activation.startsWith("gelu_new")) {
            activation = "gelu_new";
        }
        o.require("gpt", "vocab_size");
        // defaults: the small model of kiln train's default experiment, with room for longer contexts
        return new GptConfig(o.intOption("vocab_size"), o.intOption("n_positions", 256), o.intOption("n_layer", 3),
                o.intOption("n_head", 4), o.intOption("n_embd", 96), (float) o.doubleOption("dropout", 0),
                activation, o.booleanOption("bias", true), o.string("positions", "learned"),
                (float) o.doubleOption("layer_norm_epsilon", 1e-5), o.string("norm", "layernorm").toLowerCase(Locale.ROOT));
    }

    public Options toOptions() {
        Options options = Options.of("vocab_size", Integer.toString(vocabSize), "n_positions",
                Integer.toString(contextLength), "n_layer", Integer.toString(layers), "n_head", Integer.toString(heads),
                "n_embd", Integer.toString(width), "dropout", Float.toString(dropout), "activation_function", activation,
                "bias", Boolean.toString(bias), "positions", positions, "layer_norm_epsilon", Float.toString(layerNormEps));
        if (norm.equals("layernorm")) {
            return options;                    // GPT-2's default: checkpoints stay as they were before the option
        }
        java.util.Map<String, String> values = new java.util.LinkedHashMap<>(options.values());
        values.put("norm", norm);
        return new Options(values);
    }
}
