package dev.kiln.api.nn;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/** A lookup table (num, dim), initialised N(0, 1) as PyTorch's {@code nn.Embedding}. */
public final class Embedding extends Module {
    public Embedding(Backend backend, int num, int dim, Generator generator) {
        registerParameter("weight", Tensor.randn(backend, generator, num, dim));
    }

    /** The table as stored (to initialise or load it). */
    public Tensor weight() {
        return parameter("weight");
    }

    /** The table to compute with: with trainable rows applied when an adapter is attached (a tied head uses it). */
    public Tensor table() {
        return weight("weight");
    }

    /** ids (...) int32 → (..., dim). */
    public Tensor forward(Tensor ids) {
        return table().embedding(ids);
    }
}
