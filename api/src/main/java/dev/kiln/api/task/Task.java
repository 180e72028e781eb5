package dev.kiln.api.task;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import java.util.Optional;
import java.util.Set;

/**
 * What a run optimises: how the corpus becomes batches, the loss, and the evaluation. The trainer's loop (schedule,
 * clipping, accumulation, checkpoints, resume, stopping) is the same for every task and knows a task only by id.
 * Built by a {@link TaskProvider} for one run, from the run's {@link TaskData}.
 */
public interface Task {
    /** PyTorch's ignore index for targets that are not scored. */
    int IGNORE_INDEX = -100;

    String id();

    /** The kinds of model this task trains; the trainer refuses any other with an error naming both. */
    Set<ModelKind> modelKinds();

    /**
     * The training batches: {@code batchSize} rows of at most {@code context} tokens for rank {@code rank} of
     * {@code worldSize} (each global batch is worldSize × batchSize rows; rank r takes its own slice of it).
     */
    BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize);

    /**
     * The chat template the task renders examples with: saved with the checkpoints (as {@code chat_template} in
     * {@code tokenizer_config.json}) so that generation and chat render prompts the same way. By default none.
     */
    default Optional<ChatTemplate> chatTemplate() {
        return Optional.empty();
    }

    /** The loss of a batch as a sum over scored targets and their count. */
    Loss loss(LanguageModel model, Batch batch);

    /**
     * Scores the model on the validation split in batches of {@code batchSize} (at most {@code maxTargets} scored
     * targets; 0: all), in eval mode and without gradients.
     */
    Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context, long maxTargets);
}
