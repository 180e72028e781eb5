package dev.kiln.trainer.eval;

/**
 * A model's scores on held-out tokens.
 *
 * @param loss        mean cross-entropy per token, in nats
 * @param perplexity  exp(loss)
 * @param bitsPerByte the total cross-entropy in bits divided by the UTF-8 bytes the predicted tokens spell: comparable
 *                    across tokenizers (a byte-level and a 50k-token model score the same text on the same scale)
 * @param accuracy    the fraction of tokens whose most likely prediction is right
 * @param tokens      how many tokens were predicted
 * @param bytes       how many bytes those tokens spell
 */
public record Evaluation(double loss, double perplexity, double bitsPerByte, double accuracy, long tokens, long bytes) {
}
