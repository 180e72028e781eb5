package dev.kiln.trainer;

import dev.kiln.api.task.Evaluation;
import java.nio.file.Path;

/**
 * How a run ended.
 *
 * @param runDirectory     where its config, metrics, chart and checkpoints are
 * @param lastCheckpoint   the checkpoint written last
 * @param steps            optimizer steps taken in total (across resumptions)
 * @param evaluation       the last evaluation (null when the run was interrupted before any)
 * @param stopReason       why it ended
 * @param wallSeconds      this invocation's wall time, from start to the sample
 * @param sample           the text sampled at the end (empty when none was asked for or the run was interrupted)
 */
public record TrainingResult(Path runDirectory, Path lastCheckpoint, int steps, Evaluation evaluation,
                             StopReason stopReason, double wallSeconds, String sample) {

    public enum StopReason {
        /** train.steps were taken. */
        COMPLETED,
        /** train.time_budget ran out. */
        TIME_BUDGET,
        /** train.patience evaluations passed without improvement. */
        EARLY_STOPPING,
        /** {@link Trainer#requestStop()} was called (Ctrl-C, SIGTERM). */
        INTERRUPTED
    }
}
