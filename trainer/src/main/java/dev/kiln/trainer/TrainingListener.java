package dev.kiln.trainer;

import dev.kiln.api.task.Evaluation;
import java.nio.file.Path;

/**
 * What a run reports as it goes; the CLI draws a progress bar or log lines from it, tests record it. The trainer
 * itself prints nothing. Every method has an empty default, and all are called on the training thread.
 */
public interface TrainingListener {
    /** A line of context: what was loaded, trained or reused, and why the run stopped. */
    default void onMessage(String message) {
    }

    /** Before the first step: where the run is and how far it will go. */
    default void onStart(Path runDirectory, int firstStep, int totalSteps, long parameters) {
    }

    default void onStep(StepReport report) {
    }

    default void onEvaluation(int step, Evaluation evaluation, boolean best) {
    }

    /** A step whose loss or gradient was not finite: nothing was updated. */
    default void onSkippedStep(int step, String reason) {
    }

    default void onCheckpoint(int step, Path directory) {
    }

    /** Text of the end-of-run sample as it is generated. */
    default void onSampleText(String text) {
    }

    /** One optimizer step's figures; {@code tokensPerSecond} counts the training tokens of the step. */
    record StepReport(int step, int totalSteps, double loss, double lr, double gradNorm, double tokensPerSecond,
                      double elapsedSeconds) {
    }
}
