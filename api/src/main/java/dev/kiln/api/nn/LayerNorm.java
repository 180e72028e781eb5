package dev.kiln.api.nn;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Tensor;

/** Layer norm over the last dimension, weight 1 and bias 0 at start (PyTorch's {@code nn.LayerNorm}, eps 1e-5). */
public final class LayerNorm extends Module {
    private final Tensor weight;
    private final Tensor bias;
    private final float eps;

    public LayerNorm(Backend backend, int dim, float eps) {
        this.weight = registerParameter("weight", Tensor.ones(backend, dim));
        this.bias = registerParameter("bias", Tensor.zeros(backend, dim));
        this.eps = eps;
    }

    public LayerNorm(Backend backend, int dim) {
        this(backend, dim, 1e-5f);
    }

    public Tensor forward(Tensor x) {
        return x.layerNorm(weight, bias, eps);
    }
}
