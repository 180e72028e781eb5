package dev.kiln.model.seq2seq;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The seed's {@code SimpleTransformer} hyperparameters under PyTorch {@code nn.Transformer}'s names and defaults.
 *
 * @param activation {@code relu} (PyTorch's default) or {@code gelu} (exact, erf-based, as {@code F.gelu})
 * @param normFirst  false: post-LN layers (PyTorch's default); true: pre-LN
 * @param positions  {@code none} (the seed: embeddings go in as they are), {@code sinusoidal} (embedding·√d plus the
 *                   sine/cosine table) or {@code learned} (embedding plus a trained table {@code pos_embedding})
 * @param maxLength  the longest source or target the position table covers (and the decoder's default limit)
 */
public record Seq2SeqConfig(int vocabSize, int width, int heads, int encoderLayers, int decoderLayers, int feedForward,
                            float dropout, String activation, boolean normFirst, float layerNormEps, String positions,
                            int maxLength) {
    static final Set<String> KEYS = Set.of("vocab_size", "d_model", "nhead", "num_encoder_layers",
            "num_decoder_layers", "dim_feedforward", "dropout", "activation", "norm_first", "layer_norm_eps",
            "positions", "max_len");

    public Seq2SeqConfig {
        if (vocabSize < 1 || width < 1 || heads < 1 || encoderLayers < 1 || decoderLayers < 1 || feedForward < 1
                || maxLength < 1) {
            throw new KilnException("seq2seq: vocab_size, d_model, nhead, num_encoder_layers, num_decoder_layers, "
                    + "dim_feedforward and max_len must be positive");
        }
        if (width % heads != 0) {
            throw new KilnException("seq2seq: d_model " + width + " is not divisible by nhead " + heads);
        }
        if (!Set.of("relu", "gelu").contains(activation)) {
            throw new KilnException("seq2seq: activation must be relu or gelu, got " + activation);
        }
        if (!Set.of("none", "sinusoidal", "learned").contains(positions)) {
            throw new KilnException("seq2seq: positions must be none, sinusoidal or learned, got " + positions);
        }
        if (dropout < 0 || dropout >= 1) {
            throw new KilnException("seq2seq: dropout must be in [0, 1), got " + dropout);
        }
    }

    public int headSize() {
        return width / heads;
    }

    /** nn.Transformer's defaults (d_model 512, 8 heads, 6 + 6 layers, feed-forward 2048, dropout 0.1, ReLU, post-LN). */
    public static Seq2SeqConfig from(Options o) {
        o.requireOnly("seq2seq", KEYS);
        if (!o.has("vocab_size")) {
            throw new KilnException("seq2seq: missing option vocab_size (the trainer sets it from the tokenizer)");
        }
        return new Seq2SeqConfig(o.intOption("vocab_size"), o.intOption("d_model", 512), o.intOption("nhead", 8),
                o.intOption("num_encoder_layers", 6), o.intOption("num_decoder_layers", 6),
                o.intOption("dim_feedforward", 2048), (float) o.doubleOption("dropout", 0.1),
                o.string("activation", "relu").toLowerCase(Locale.ROOT), o.booleanOption("norm_first", false),
                (float) o.doubleOption("layer_norm_eps", 1e-5), o.string("positions", "none").toLowerCase(Locale.ROOT),
                o.intOption("max_len", 512));
    }

    public Options toOptions() {
        Map<String, String> values = new LinkedHashMap<>();
        values.put("vocab_size", Integer.toString(vocabSize));
        values.put("d_model", Integer.toString(width));
        values.put("nhead", Integer.toString(heads));
        values.put("num_encoder_layers", Integer.toString(encoderLayers));
        values.put("num_decoder_layers", Integer.toString(decoderLayers));
        values.put("dim_feedforward", Integer.toString(feedForward));
        values.put("dropout", Float.toString(dropout));
        values.put("activation", activation);
        values.put("norm_first", Boolean.toString(normFirst));
        values.put("layer_norm_eps", Float.toString(layerNormEps));
        values.put("positions", positions);
        values.put("max_len", Integer.toString(maxLength));
        return new Options(values);
    }
}
