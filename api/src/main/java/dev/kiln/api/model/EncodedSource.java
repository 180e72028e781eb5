package dev.kiln.api.model;

import dev.kiln.api.tensor.Tensor;

/**
 * What an encoder computed once for a batch of sources: the memory (B, S, C) that cross-attention reads and each row's
 * source length (keys at or past it are padding).
 */
public record EncodedSource(Tensor memory, int[] lengths) {
    public EncodedSource {
        lengths = lengths.clone();
    }

    @Override
    public int[] lengths() {
        return lengths.clone();
    }
}
