package dev.kiln.bench;

import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;

/** One full training step as the PyTorch anchor times it: forward, cross-entropy, backward, optimizer step. */
final class TrainingStep {
    private TrainingStep() {
    }

    static float run(LanguageModel model, Optimizer optimizer, Tensor ids, Tensor targets) {
        try (MemoryScope step = MemoryScope.open()) {
            Tensor loss = model.forward(ids).crossEntropy(targets, -100);
            optimizer.zeroGrad();
            loss.backward();
            optimizer.step();
            return loss.item();
        }
    }
}
