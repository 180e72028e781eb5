package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.GradientClipping;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Task;
import dev.kiln.api.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One optimizer step, the only one in Kiln (the trainer, {@code kiln bench} and the JMH benchmarks all run this):
 * forward and loss of each micro-batch, backward, then — once every gradient is complete — clipping and the
 * optimizer's update. The loss of a step is the sum over every scored target of its micro-batches divided by their
 * total count, so accumulation and answer-only masks average over the same targets. A step whose loss or gradient
 * norm is not finite leaves the weights as they were.
 *
 * <p>A {@link GradientHook} hears of each parameter the moment its gradient is final, in the order the backward pass
 * finishes them (last layers first), and again when all are done: where data-parallel training averages gradients in
 * buckets while the rest of the pass runs.
 */
public final class TrainingStep {
    /** Where gradients are ready; called on the thread running the step. */
    public interface GradientHook {
        /** {@code parameter.grad()} is final for this step. */
        void gradientReady(String name, Tensor parameter);

        /** Every gradient is final; the step clips and updates next. */
        default void allGradientsReady() {
        }
    }

    /** How a batch becomes a loss: a task's {@link Task#loss}, or {@link Loss#crossEntropy} for next-token data. */
    @FunctionalInterface
    public interface LossFunction {
        Loss apply(LanguageModel model, Batch batch);
    }

    /**
     * What one step did: the mean loss over its scored targets, their count, the gradient norm before clipping (NaN
     * when neither clipping nor measuring it was asked for) and whether the optimizer updated the weights.
     */
    public record Result(double loss, long targets, double gradNorm, boolean applied) {
    }

    private final LanguageModel model;
    private final LossFunction lossFunction;
    private final Optimizer optimizer;
    private final Map<Tensor, String> names = new IdentityHashMap<>();
    private double gradClip;
    private boolean measureNorm;
    private GradientHook hook;
    private Communicator communicator = Communicator.single();

    public TrainingStep(LanguageModel model, LossFunction lossFunction, Optimizer optimizer) {
        this.model = model;
        this.lossFunction = lossFunction;
        this.optimizer = optimizer;
        model.namedParameters().forEach((name, parameter) -> names.put(parameter, name));
    }

    /** Clips the global gradient norm to {@code maxNorm} before each update (0: no clipping). */
    public TrainingStep clipGradients(double maxNorm) {
        this.gradClip = maxNorm;
        return this;
    }

    /** Measures the global gradient norm even without clipping (for the metrics log); one more pass over gradients. */
    public TrainingStep measureGradientNorm(boolean measure) {
        this.measureNorm = measure;
        return this;
    }

    /**
     * Data parallelism: every rank runs this step on its own shard, the loss is divided by the count of scored
     * targets over all ranks, and the hook (see {@link DataParallel}) sums the gradients across ranks before clipping,
     * so every rank makes the same update.
     */
    public TrainingStep distributed(Communicator ranks) {
        this.communicator = ranks;
        return this;
    }

    public TrainingStep onGradientReady(GradientHook gradientHook) {
        this.hook = gradientHook;
        return this;
    }

    /** Runs the step over these micro-batches (call it inside the step's MemoryScope, at the learning rate set). */
    public Result run(List<Batch> microBatches) {
        if (microBatches.isEmpty()) {
            throw new KilnException("a training step needs at least one micro-batch");
        }
        long targets = 0;
        for (Batch batch : microBatches) {
            targets += batch.countedTargets();
        }
        targets = (long) communicator.sum(targets);          // the global count: every rank divides by the same
        double loss = 0;
        if (targets > 0) {
            float inverseCount = 1f / targets;
            for (int i = 0; i < microBatches.size(); i++) {
                Loss micro = lossFunction.apply(model, microBatches.get(i));
                Tensor scaled = micro.sum().mul(inverseCount);
                if (i == 0) {
                    // the last step's gradients go back to the backend after this forward pass, not before it, so
                    // the backward pass finds their buffers free instead of the forward pass taking them
                    optimizer.zeroGrad();
                }
                boolean last = i == microBatches.size() - 1;
                if (last && hook != null) {
                    scaled.backward(parameter -> {
                        String name = names.get(parameter);
                        if (name != null) {
                            hook.gradientReady(name, parameter);
                        }
                    });
                } else {
                    scaled.backward();
                }
                loss += scaled.item();
            }
        }
        if (targets == 0) {
            optimizer.zeroGrad();
        }
        if (hook != null) {
            hook.allGradientsReady();
        }
        loss = communicator.sum(loss);
        List<Tensor> parameters = model.parameters();
        double gradNorm = gradClip > 0 ? GradientClipping.clipGradNorm(parameters, gradClip)
                : measureNorm ? GradientClipping.globalNorm(parameters) : Double.NaN;
        boolean finite = Double.isFinite(loss) && (Double.isFinite(gradNorm) || gradClip <= 0 && !measureNorm);
        boolean applied = finite && targets > 0;
        if (applied) {
            optimizer.step();
        }
        return new Result(loss, targets, gradNorm, applied);
    }
}
