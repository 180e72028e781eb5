package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A batch of named model inputs: the INT32 tensors a task builds and a model reads, and the per-row lengths of padded
 * sequences (kept on the host: they shape attention masks). A decoder-only model reads {@link #INPUT_IDS}; an
 * encoder-decoder reads the source, the target's input and both lengths.
 */
public final class ModelInputs {
    /** Token ids (B, T) of a decoder-only model. */
    public static final String INPUT_IDS = "input_ids";
    /** Source ids (B, S), right-padded. */
    public static final String SOURCE_IDS = "source_ids";
    /** Target-side ids fed to the decoder (B, T): BOS then the target shifted right (teacher forcing), right-padded. */
    public static final String TARGET_IDS = "target_ids";
    public static final String SOURCE_LENGTHS = "source_lengths";
    public static final String TARGET_LENGTHS = "target_lengths";

    private final Map<String, Tensor> tensors;
    private final Map<String, int[]> lengths;

    private ModelInputs(Map<String, Tensor> tensors, Map<String, int[]> lengths) {
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        this.lengths = Collections.unmodifiableMap(new LinkedHashMap<>(lengths));
    }

    /** The inputs of a decoder-only model. */
    public static ModelInputs ids(Tensor inputIds) {
        return new ModelInputs(Map.of(INPUT_IDS, inputIds), Map.of());
    }

    public static ModelInputs of(Map<String, Tensor> tensors, Map<String, int[]> lengths) {
        return new ModelInputs(tensors, lengths);
    }

    /** The tensor under {@code name}; an error naming what is there when it is missing. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new KilnException("model inputs have no '" + name + "' (they hold " + tensors.keySet() + "): the task "
                    + "and the model do not fit");
        }
        return t;
    }

    /** The lengths under {@code name}, or null when the batch is not padded there. */
    public int[] lengths(String name) {
        int[] l = lengths.get(name);
        return l == null ? null : l.clone();
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The number of rows: the first dimension of the first tensor. */
    public int batchSize() {
        return tensors.values().iterator().next().size(0);
    }
}
