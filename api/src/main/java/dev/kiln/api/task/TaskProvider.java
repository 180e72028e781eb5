package dev.kiln.api.task;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;

/** A task plugin: {@code provides dev.kiln.api.task.TaskProvider with ...} in its module-info. */
public interface TaskProvider extends Provider {
    /** The task for one run, over its data; unknown or malformed {@code task.*} options are errors. */
    Task create(TaskData data, Options options);
}
