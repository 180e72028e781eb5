package dev.kiln.api.nn;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/**
 * y = x·Wᵀ + b with W stored (out, in), PyTorch's {@code nn.Linear}, initialised as PyTorch does: weight and bias
 * uniform on ±1/√in. The transpose is a view, so the backend multiplies with a transpose flag and copies nothing.
 */
public final class Linear extends Module {
    private final Tensor weight;
    private final Tensor bias;

    public Linear(Backend backend, int in, int out, boolean bias, Generator generator) {
        float bound = (float) (1.0 / Math.sqrt(in));
        this.weight = registerParameter("weight", Tensor.uniform(backend, -bound, bound, generator, out, in));
        this.bias = bias ? registerParameter("bias", Tensor.uniform(backend, -bound, bound, generator, out)) : null;
    }

    public Tensor weight() {
        return weight;
    }

    public Tensor bias() {
        return bias;
    }

    public Tensor forward(Tensor x) {
        Tensor y = x.matmul(weight.mT());      // (..., in) @ (in, out) → (..., out)
        return bias == null ? y : y.add(bias);
    }
}
