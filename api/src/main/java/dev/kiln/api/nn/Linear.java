package dev.kiln.api.nn;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/**
 * y = x·Wᵀ + b with W stored (out, in), PyTorch's {@code nn.Linear}, initialised as PyTorch does: weight and bias
 * uniform on ±1/√in. The transpose is a view, so the backend multiplies with a transpose flag and copies nothing.
 */
public final class Linear extends Module {
    private final boolean hasBias;

    public Linear(Backend backend, int in, int out, boolean bias, Generator generator) {
        float bound = (float) (1.0 / Math.sqrt(in));
        registerProjection("weight", Tensor.uniform(backend, -bound, bound, generator, out, in), WeightLayout.OUT_IN);
        if (bias) {
            registerParameter("bias", Tensor.uniform(backend, -bound, bound, generator, out));
        }
        this.hasBias = bias;
    }

    public Tensor weight() {
        return parameter("weight");
    }

    public Tensor bias() {
        return hasBias ? parameter("bias") : null;
    }

    public Tensor forward(Tensor x) {
        Tensor y = project(x, "weight");       // (..., in) @ (in, out) → (..., out), plus a LoRA update if attached
        return hasBias ? y.add(parameter("bias")) : y;
    }
}
