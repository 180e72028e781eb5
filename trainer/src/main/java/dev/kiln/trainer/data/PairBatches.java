package dev.kiln.trainer.data;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Task;
import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Encoded pairs → one padded encoder-decoder batch (teacher forcing), every row padded to the longest in the batch. */
public final class PairBatches {
    private PairBatches() {
    }

    /**
     * Sources (B, S) and decoder inputs BOS + target (B, T), right-padded with PAD, their lengths, and the labels
     * target + EOS with {@link Task#IGNORE_INDEX} on the padding.
     */
    public static Batch build(Backend backend, List<int[]> sources, List<int[]> targets, PairEncoding encoding) {
        int rows = sources.size();
        int sourceLength = sources.stream().mapToInt(s -> s.length).max().orElse(1);
        int targetLength = targets.stream().mapToInt(t -> t.length + 1).max().orElse(1);
        int[] sourceIds = new int[rows * sourceLength];
        int[] targetIds = new int[rows * targetLength];
        int[] labels = new int[rows * targetLength];
        Arrays.fill(sourceIds, encoding.pad());
        Arrays.fill(targetIds, encoding.pad());
        Arrays.fill(labels, Task.IGNORE_INDEX);
        int[] sourceLengths = new int[rows];
        int[] targetLengths = new int[rows];
        long counted = 0;
        for (int r = 0; r < rows; r++) {
            int[] s = sources.get(r);
            int[] t = targets.get(r);
            System.arraycopy(s, 0, sourceIds, r * sourceLength, s.length);
            targetIds[r * targetLength] = encoding.bos();
            System.arraycopy(t, 0, targetIds, r * targetLength + 1, t.length);
            System.arraycopy(t, 0, labels, r * targetLength, t.length);
            labels[r * targetLength + t.length] = encoding.eos();
            sourceLengths[r] = s.length;
            targetLengths[r] = t.length + 1;
            counted += t.length + 1;
        }
        ModelInputs inputs = ModelInputs.of(Map.of(
                        ModelInputs.SOURCE_IDS, Tensor.ofInts(backend, sourceIds, rows, sourceLength),
                        ModelInputs.TARGET_IDS, Tensor.ofInts(backend, targetIds, rows, targetLength)),
                Map.of(ModelInputs.SOURCE_LENGTHS, sourceLengths, ModelInputs.TARGET_LENGTHS, targetLengths));
        return new Batch(inputs, Tensor.ofInts(backend, labels, rows, targetLength), counted);
    }
}
