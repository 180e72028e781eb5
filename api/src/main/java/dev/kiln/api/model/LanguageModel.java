package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import dev.kiln.api.nn.Module;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Tensor;
import java.util.Map;

/**
 * A next-token model over a vocabulary: token ids in, logits out. Plugins (LSTM, GPT) extend it; the trainer, the
 * evaluator and generation see only this.
 */
public abstract class LanguageModel extends Module {
    /** The provider id that builds this architecture, e.g. {@code lstm}. */
    public abstract String modelId();

    public abstract int vocabSize();

    /** The hyperparameters that rebuild this model through its provider (saved as a checkpoint's config). */
    public abstract Options hyperparameters();

    /** ids (B, T) int32 → logits (B, T, vocab). */
    public abstract Tensor forward(Tensor ids);

    /**
     * A batch of named inputs → logits (B, T, vocab): what a task calls. A decoder-only model reads
     * {@link ModelInputs#INPUT_IDS}; an {@link EncoderDecoderModel} reads the source and target.
     */
    public Tensor forward(ModelInputs inputs) {
        return forward(inputs.tensor(ModelInputs.INPUT_IDS));
    }

    /** What this model computes; a task refuses kinds it cannot train. */
    public ModelKind kind() {
        return ModelKind.DECODER;
    }

    /**
     * A decoder over {@code slots} independent sequences of at most {@code maxLength} tokens each, for continuous
     * batching. By default none: the error says so.
     */
    public SlotDecoder slotDecoder(int slots, int maxLength) {
        throw new KilnException("model " + modelId() + " has no slot decoder for ragged batches");
    }

    /**
     * The longest sequence {@link #forward} accepts: a Transformer's context length; unlimited (the default) for
     * recurrent models. The trainer checks its window against it before the first step.
     */
    public int maxContext() {
        return Integer.MAX_VALUE;
    }

    /** An incremental decoder for {@code batch} sequences that keeps its state (hidden state, KV cache) between calls. */
    public abstract Decoder decoder(int batch);

    /**
     * Grows the vocabulary to {@code newSize} tokens (special tokens added to the tokenizer): the new rows of the
     * token embedding, and of an untied output layer, start at the mean of the old rows, as Hugging Face's
     * {@code resize_token_embeddings} does, and {@link #hyperparameters()} report the new size. Returns the tables
     * that grew as {@code module path → parameter name} (for a LoRA run to make their new rows trainable). By
     * default a model cannot grow: the error says so.
     */
    public Map<String, String> growVocabulary(int newSize) {
        throw new KilnException("model " + modelId() + " cannot grow its vocabulary (from " + vocabSize() + " to "
                + newSize + " tokens)");
    }

    /**
     * Replaces {@code owner}'s parameter {@code name}, a table of one row per token ((V, …) or a bias (V)), by one of
     * {@code newSize} rows whose new rows are the mean of the old ones.
     */
    protected static void growRows(Module owner, String name, int newSize) {
        Tensor old = owner.parameter(name);
        int rows = old.size(0);
        if (newSize < rows) {
            throw new KilnException("cannot shrink a vocabulary from " + rows + " to " + newSize + " tokens");
        }
        if (newSize == rows) {
            return;
        }
        float[] values = old.toFloatArray();
        int width = values.length / rows;
        float[] grown = java.util.Arrays.copyOf(values, newSize * width);
        double[] mean = new double[width];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < width; c++) {
                mean[c] += values[r * width + c];
            }
        }
        for (int r = rows; r < newSize; r++) {
            for (int c = 0; c < width; c++) {
                grown[r * width + c] = (float) (mean[c] / rows);
            }
        }
        int[] shape = old.shape().clone();
        shape[0] = newSize;
        owner.replaceParameter(name, Tensor.of(old.backend(), grown, shape));
    }

    /** The logits of the last position: (B, T, V) → (B, V); what a decoder returns. */
    protected static Tensor lastPosition(Tensor logits) {
        int time = logits.size(1);
        return logits.slice(1, time - 1, time).reshape(logits.size(0), logits.size(2));
    }
}
