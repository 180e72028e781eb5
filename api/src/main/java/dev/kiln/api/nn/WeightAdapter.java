package dev.kiln.api.nn;

import dev.kiln.api.tensor.Tensor;
import java.util.Map;

/**
 * A trainable change to one frozen parameter of a module (LoRA's low-rank update, a block of trainable embedding
 * rows), attached with {@link Module#attachAdapter}. The module reads the parameter through {@link Module#weight} or
 * {@link Module#project}, which apply the adapter, so a model supports adapters by reading its weights that way.
 */
public interface WeightAdapter {
    /** The adapter's own parameters under local names (for LoRA {@code lora_A.weight} and {@code lora_B.weight}). */
    Map<String, Tensor> parameters();

    /** The weight to compute with: {@code base} with this adapter's change applied (a new tensor in the graph). */
    Tensor adapt(Tensor base, WeightLayout layout);

    /**
     * x (…, in) times output features [from, to) of the adapted weight. The default multiplies by {@link #adapt};
     * LoRA overrides it to add x·Aᵀ·Bᵀ instead, so the frozen weight's gradient is never formed.
     */
    default Tensor project(Tensor x, Tensor base, WeightLayout layout, int from, int to, boolean training) {
        return layout.apply(x, adapt(base, layout), from, to);
    }

    /** Folds the change into {@code base} in place (merging), after which the adapter is detached. */
    void mergeInto(Tensor base, WeightLayout layout);

    /** Whether {@link #project} applies something {@link #adapt} cannot express (dropout on the adapter's input). */
    default boolean needsProjection() {
        return false;
    }
}
