package dev.kiln.api.optim;

import dev.kiln.api.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named parameters that share a weight decay and a learning-rate multiplier (PyTorch's param_groups).
 *
 * @param lrScale multiplies the scheduled learning rate for this group (1 for most)
 */
public record ParamGroup(String name, Map<String, Tensor> parameters, double weightDecay, double lrScale) {
    public ParamGroup {
        parameters = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    public static ParamGroup of(Map<String, Tensor> parameters, double weightDecay) {
        return new ParamGroup("all", parameters, weightDecay, 1.0);
    }

    /**
     * nanoGPT's split: matrices (2-D and up: linear weights, embeddings) decay; biases, norm weights and every other
     * 1-D tensor do not.
     */
    public static java.util.List<ParamGroup> decayMatricesOnly(Map<String, Tensor> parameters, double weightDecay) {
        Map<String, Tensor> decay = new LinkedHashMap<>();
        Map<String, Tensor> noDecay = new LinkedHashMap<>();
        parameters.forEach((name, p) -> (p.dim() >= 2 ? decay : noDecay).put(name, p));
        return java.util.List.of(new ParamGroup("decay", decay, weightDecay, 1.0),
                new ParamGroup("no_decay", noDecay, 0.0, 1.0));
    }
}
