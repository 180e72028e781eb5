package dev.kiln.trainer.checkpoint;

import dev.kiln.api.optim.OptimizerState;

/**
 * Everything besides the weights that a run needs to continue exactly.
 *
 * @param step                    optimizer steps taken (the schedule's position)
 * @param optimizer               the optimizer's step count and moments
 * @param generator               the model's random generator (dropout), as {@code Generator.state()}
 * @param dataCursor              how many training windows were drawn
 * @param bestValidationLoss      the lowest validation loss so far (infinite before the first evaluation)
 * @param bestStep                the step it was reached at (-1 before the first evaluation)
 * @param evaluationsSinceBest    evaluations since it, for early stopping
 * @param elapsedSeconds          training time so far, across resumptions
 * @param ranks                   the processes that trained it (data parallel; 1 alone): with the per-rank batch, the
 *                                global batch a resume must keep
 */
public record TrainingState(int step, OptimizerState optimizer, long[] generator, long dataCursor,
                            double bestValidationLoss, int bestStep, int evaluationsSinceBest,
                            double elapsedSeconds, int ranks) {
}
