package dev.kiln.api.task;

import dev.kiln.api.tensor.Tensor;

/**
 * A batch's loss as a sum over its scored targets and their count, so that gradient accumulation, answer-only masks
 * and data-parallel shards all divide by the same global count (a batch with no scored target adds nothing).
 */
public record Loss(Tensor sum, long count) {
    /** The summed cross-entropy of logits (B, T, vocab) against the batch's targets, ignored targets skipped. */
    public static Loss crossEntropy(Tensor logits, Batch batch) {
        return new Loss(logits.crossEntropySum(batch.targets(), Task.IGNORE_INDEX), batch.countedTargets());
    }
}
