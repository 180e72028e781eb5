package dev.kiln.api.task;

import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.tensor.Tensor;

/**
 * One micro-batch: the model's named inputs, the INT32 targets (B, T) with {@link Task#IGNORE_INDEX} wherever no
 * prediction is scored (padding, prompts under answer-only loss), and how many targets are scored.
 */
public record Batch(ModelInputs inputs, Tensor targets, long countedTargets) {
}
