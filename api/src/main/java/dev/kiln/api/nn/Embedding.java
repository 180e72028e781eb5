package dev.kiln.api.nn;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/** A lookup table (num, dim), initialised N(0, 1) as PyTorch's {@code nn.Embedding}. */
public final class Embedding extends Module {
    private final Tensor weight;

    public Embedding(Backend backend, int num, int dim, Generator generator) {
        this.weight = registerParameter("weight", Tensor.randn(backend, generator, num, dim));
    }

    public Tensor weight() {
        return weight;
    }

    /** ids (...) int32 → (..., dim). */
    public Tensor forward(Tensor ids) {
        return weight.embedding(ids);
    }
}
