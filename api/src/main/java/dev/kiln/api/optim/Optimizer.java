package dev.kiln.api.optim;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.DType;
import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Updates parameters from their gradients. State (moments, momentum buffers) is kept per parameter name and can be
 * exported and restored exactly, for checkpoints. Parameters without a gradient are skipped, as in PyTorch.
 */
public abstract class Optimizer {
    protected final List<ParamGroup> groups;
    private double learningRate;
    private int step;
    /** Per-parameter state tensors, keyed "name.slot" (e.g. "fc.weight.exp_avg"). */
    private final Map<String, Tensor> state = new LinkedHashMap<>();

    protected Optimizer(List<ParamGroup> groups, double learningRate) {
        if (groups.isEmpty() || groups.stream().allMatch(g -> g.parameters().isEmpty())) {
            throw new KilnException(getClass().getSimpleName() + ": no parameters to optimise");
        }
        this.groups = List.copyOf(groups);
        this.learningRate = learningRate;
    }

    public final double learningRate() {
        return learningRate;
    }

    /** Sets the base learning rate (schedules call this before each step). */
    public final void setLearningRate(double lr) {
        this.learningRate = lr;
    }

    /** How many steps have been taken. */
    public final int stepCount() {
        return step;
    }

    public final List<ParamGroup> groups() {
        return groups;
    }

    /** Applies one update to every parameter that has a gradient. */
    public final void step() {
        step++;
        for (ParamGroup group : groups) {
            double lr = learningRate * group.lrScale();
            group.parameters().forEach((name, p) -> {
                if (p.grad() != null) {
                    update(name, p, p.grad(), lr, group.weightDecay(), step);
                }
            });
        }
    }

    protected abstract void update(String name, Tensor parameter, Tensor grad, double lr, double weightDecay, int step);

    /**
     * The state slot {@code slot} of a parameter, created zero-filled on first use in the parameter's own scope, so that
     * a step scope open at the time never frees it.
     */
    protected final Tensor stateOf(String name, String slot, Tensor parameter) {
        return state.computeIfAbsent(name + "." + slot, key -> parameter.zerosInOwnerScope());
    }

    protected final boolean hasState(String name, String slot) {
        return state.containsKey(name + "." + slot);
    }

    public final void zeroGrad() {
        groups.forEach(g -> g.parameters().values().forEach(Tensor::zeroGrad));
    }

    /** Everything needed to continue exactly: the step count and every state tensor's values. */
    public final OptimizerState exportState() {
        Map<String, float[]> tensors = new LinkedHashMap<>();
        state.forEach((key, t) -> tensors.put(key, t.toFloatArray()));
        return new OptimizerState(step, tensors);
    }

    /** Restores what {@link #exportState()} produced; a slot for an unknown parameter or of the wrong size is an error. */
    public final void restoreState(OptimizerState saved) {
        Map<String, Tensor> byName = new LinkedHashMap<>();
        groups.forEach(g -> byName.putAll(g.parameters()));
        state.clear();
        for (Map.Entry<String, float[]> e : saved.tensors().entrySet()) {
            String key = e.getKey();
            int dot = key.lastIndexOf('.');
            Tensor parameter = dot < 0 ? null : byName.get(key.substring(0, dot));
            if (parameter == null) {
                throw new KilnException("optimizer state names an unknown parameter: " + key);
            }
            if (e.getValue().length != parameter.numel()) {
                throw new KilnException("optimizer state " + key + " has " + e.getValue().length
                        + " values but parameter " + key.substring(0, dot) + " has shape "
                        + Arrays.toString(parameter.shape()));
            }
            Tensor slot = parameter.zerosInOwnerScope();
            slot.copyFrom(e.getValue());
            state.put(key, slot);
        }
        this.step = saved.step();
    }

    static void requireFloat(Tensor p) {
        if (p.dtype() != DType.FLOAT32) {
            throw new KilnException("optimizer: parameter is " + p.dtype() + ", not FLOAT32");
        }
    }
}
