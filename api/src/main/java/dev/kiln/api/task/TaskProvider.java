package dev.kiln.api.task;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;
import java.util.List;

/** A task plugin: {@code provides dev.kiln.api.task.TaskProvider with ...} in its module-info. */
public interface TaskProvider extends Provider {
    /** The task for one run, over its data; unknown or malformed {@code task.*} options are errors. */
    Task create(TaskData data, Options options);

    /**
     * Special tokens the task writes (a chat template's), which the trainer adds to the run's vocabulary before
     * {@link #create} when it lacks them, growing a fine-tuned model's embedding to match. By default none.
     */
    default List<String> specialTokens(Options options) {
        return List.of();
    }
}
