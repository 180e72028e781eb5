package dev.kiln.trainer.task;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import java.util.List;

/**
 * Task id {@code sft}: instruction fine-tuning on JSONL examples in chat ({@code messages}), Alpaca
 * ({@code instruction}, {@code input}, {@code output}) or prompt/completion form. Options: {@code template}
 * ({@code chatml}, the default, or {@code alpaca}), {@code loss_on} ({@code answers}, the default, or {@code all}),
 * {@code max_length} (input tokens per example; default train.context), {@code eval_generate} (held-out questions
 * answered for exact match per evaluation; default 200) and {@code eval_max_tokens} (tokens per answer; default 64).
 */
public final class InstructionTuningTaskProvider implements TaskProvider {
    @Override
    public String id() {
        return InstructionTuningTask.ID;
    }

    @Override
    public int priority() {
        return 1;
    }

    @Override
    public Task create(TaskData data, Options options) {
        return new InstructionTuningTask(data, options);
    }

    @Override
    public List<String> specialTokens(Options options) {
        return InstructionTuningTask.specialTokens(options);
    }
}
