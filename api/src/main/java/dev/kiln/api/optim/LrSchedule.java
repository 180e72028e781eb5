package dev.kiln.api.optim;

import dev.kiln.api.KilnException;

/** The learning rate as a function of the step (0-based): what the trainer sets before each optimizer step. */
@FunctionalInterface
public interface LrSchedule {
    double lr(int step);

    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * nanoGPT's schedule: linear warmup from 0 to maxLr over warmupSteps, then cosine decay to minLr at totalSteps,
     * and minLr after.
     */
    static LrSchedule warmupCosine(double maxLr, double minLr, int warmupSteps, int totalSteps) {
        if (warmupSteps < 0 || totalSteps <= warmupSteps) {
            throw new KilnException("warmupCosine: needs 0 <= warmupSteps < totalSteps, got " + warmupSteps + " and "
                    + totalSteps);
        }
        return step -> {
            if (step < warmupSteps) {
                return maxLr * (step + 1) / warmupSteps;
            }
            if (step >= totalSteps) {
                return minLr;
            }
            double progress = (double) (step - warmupSteps) / (totalSteps - warmupSteps);
            return minLr + 0.5 * (1.0 + Math.cos(Math.PI * progress)) * (maxLr - minLr);
        };
    }

    /** Linear warmup to lr, then constant. */
    static LrSchedule linearWarmup(double lr, int warmupSteps) {
        return step -> step < warmupSteps ? lr * (step + 1) / warmupSteps : lr;
    }
}
