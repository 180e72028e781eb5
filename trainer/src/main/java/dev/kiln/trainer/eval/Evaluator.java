package dev.kiln.trainer.eval;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Scores a model on a token stream read front to back in consecutive windows of {@code context} predictions (each
 * window sees only its own past, as in training). The loss is the backend's cross-entropy; the accuracy comes from the
 * logits' argmax on the host; bits per byte divide the total by the bytes each predicted token decodes to.
 */
public final class Evaluator {
    /** exp(loss). */
    public static final String PERPLEXITY = "perplexity";
    /**
     * The total cross-entropy in bits divided by the UTF-8 bytes the predicted tokens spell: comparable across
     * tokenizers (a byte-level and a 50k-token model score the same text on the same scale).
     */
    public static final String BITS_PER_BYTE = "bits_per_byte";
    /** The fraction of tokens whose most likely prediction is right. */
    public static final String ACCURACY = "accuracy";
    public static final String TOKENS = "tokens";
    public static final String BYTES = "bytes";

    private final int[] bytesPerToken;

    public Evaluator(Tokenizer tokenizer) {
        bytesPerToken = new int[tokenizer.vocabSize()];
        for (int id = 0; id < bytesPerToken.length; id++) {
            bytesPerToken[id] = tokenizer.decodeBytes(new int[] {id}).length;
        }
    }

    /**
     * Evaluates at most {@code maxTokens} predictions (0: the whole stream) in batches of {@code batch} windows.
     * A text shorter than one window is scored as one window of its own length, as {@code model(ids, labels=ids)}
     * scores it. The model is put in eval mode for the call and given back in the mode it was in.
     */
    public Evaluation evaluate(LanguageModel model, Backend backend, TokenSequence tokens, int context, int batch,
                               long maxTokens) {
        long available = tokens.length() - 1L;
        long wanted = maxTokens == 0 ? available : Math.min(available, maxTokens);
        if (wanted < 1) {
            throw new KilnException("the text to evaluate has " + tokens.length() + " token(s); at least 2 are needed "
                    + "(one to predict from, one to predict)");
        }
        context = (int) Math.min(context, wanted);
        int windows = (int) (wanted / context);
        int vocab = model.vocabSize();
        double nats = 0;
        long correct = 0;
        long bytes = 0;
        boolean wasTraining = model.isTraining();
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            for (int first = 0; first < windows; first += batch) {
                int rows = Math.min(batch, windows - first);
                int[] x = new int[rows * context];
                int[] y = new int[rows * context];
                for (int r = 0; r < rows; r++) {
                    int start = (first + r) * context;
                    tokens.get(start, x, r * context, context);
                    tokens.get(start + 1, y, r * context, context);
                }
                float[] logits;
                try (MemoryScope scope = MemoryScope.open()) {
                    Tensor output = model.forward(Tensor.ofInts(backend, x, rows, context));
                    nats += output.crossEntropy(Tensor.ofInts(backend, y, rows, context), Task.IGNORE_INDEX).item()
                            * y.length;
                    logits = output.toFloatArray();
                }
                for (int i = 0; i < y.length; i++) {
                    int offset = i * vocab;
                    int best = 0;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int v = 0; v < vocab; v++) {
                        if (logits[offset + v] > max) {
                            max = logits[offset + v];
                            best = v;
                        }
                    }
                    correct += best == y[i] ? 1 : 0;
                    bytes += y[i] < bytesPerToken.length ? bytesPerToken[y[i]] : 0;
                }
            }
        } finally {
            model.train(wasTraining);
        }
        long predicted = (long) windows * context;
        double loss = nats / predicted;
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put(PERPLEXITY, Math.exp(loss));
        metrics.put(BITS_PER_BYTE, nats / Math.log(2) / Math.max(1, bytes));
        metrics.put(ACCURACY, (double) correct / predicted);
        metrics.put(TOKENS, (double) predicted);
        metrics.put(BYTES, (double) bytes);
        return new Evaluation(loss, metrics);
    }
}
