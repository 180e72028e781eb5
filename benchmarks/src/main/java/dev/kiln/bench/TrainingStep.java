package dev.kiln.bench;

import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Loss;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.util.List;

/**
 * One full training step as the PyTorch anchor times it — forward, cross-entropy, backward, optimizer step, no
 * clipping — run by the trainer's own {@link dev.kiln.trainer.TrainingStep}, so the benchmark measures the code a
 * training run executes.
 */
final class TrainingStep {
    private TrainingStep() {
    }

    static float run(LanguageModel model, Optimizer optimizer, Tensor ids, Tensor targets) {
        try (MemoryScope step = MemoryScope.open()) {
            Batch batch = new Batch(ModelInputs.ids(ids), targets, targets.numel());
            return (float) new dev.kiln.trainer.TrainingStep(model,
                    (m, b) -> Loss.crossEntropy(m.forward(b.inputs()), b), optimizer).run(List.of(batch)).loss();
        }
    }
}
