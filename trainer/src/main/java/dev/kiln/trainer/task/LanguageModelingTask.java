package dev.kiln.trainer.task;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.trainer.data.BatchSampler;
import dev.kiln.trainer.eval.Evaluator;
import java.util.Set;

/**
 * The task {@code lm}: next-token prediction on random windows of the corpus's token stream (nanoGPT's
 * {@code get_batch}), every target scored; evaluated on the validation split front to back for loss, perplexity,
 * bits per byte and accuracy.
 */
final class LanguageModelingTask implements Task {
    static final String ID = "lm";

    private final TaskData data;
    private final Evaluator evaluator;

    LanguageModelingTask(TaskData data) {
        this.data = data;
        this.evaluator = new Evaluator(data.tokenizer());
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public Set<ModelKind> modelKinds() {
        return Set.of(ModelKind.DECODER);
    }

    @Override
    public BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize) {
        return new BatchSampler(data.tokens(Split.TRAIN), batchSize, context, seed, rank, worldSize);
    }

    @Override
    public Loss loss(LanguageModel model, Batch batch) {
        return Loss.crossEntropy(model.forward(batch.inputs()), batch);
    }

    @Override
    public Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context, long maxTargets) {
        return evaluator.evaluate(model, backend, data.tokens(Split.VALIDATION), context, batchSize, maxTargets);
    }
}
