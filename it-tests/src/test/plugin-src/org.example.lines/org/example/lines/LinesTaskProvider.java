package org.example.lines;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import java.util.Set;

public final class LinesTaskProvider implements TaskProvider {
    @Override
    public String id() {
        return "lines";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public Task create(TaskData data, Options options) {
        options.requireOnly("lines", Set.of("min_tokens"));
        return new LinesTask(data, options.intOption("min_tokens", 2));
    }
}
