package dev.kiln.trainer.task;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import java.util.Set;

/** Provider of the default task {@code lm}, which takes no options. */
public final class LanguageModelingTaskProvider implements TaskProvider {
    @Override
    public String id() {
        return LanguageModelingTask.ID;
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Task create(TaskData data, Options options) {
        options.requireOnly(LanguageModelingTask.ID, Set.of());
        return new LanguageModelingTask(data);
    }
}
