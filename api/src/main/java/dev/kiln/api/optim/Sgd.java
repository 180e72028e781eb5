package dev.kiln.api.optim;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.tensor.Tensor;
import java.util.List;

/**
 * Stochastic gradient descent with optional momentum and L2 weight decay, as {@code torch.optim.SGD}
 * (dampening 0): b ← μ·b + g (b = g on the first step), p ← p − lr·b.
 */
public final class Sgd extends Optimizer {
    private final double momentum;

    public Sgd(List<ParamGroup> groups, double lr, double momentum) {
        super(groups, lr);
        this.momentum = momentum;
    }

    @Override
    protected void update(String name, Tensor parameter, Tensor grad, double lr, double weightDecay, int step) {
        requireFloat(parameter);
        Backend b = parameter.backend();
        int n = parameter.numel();
        int[] dense = {1};
        int[] scalar = {0};
        int[] shape = {n};
        Storage p = parameter.storage();
        Storage direction = b.allocate(dev.kiln.api.backend.DType.FLOAT32, n);
        Storage constant = b.upload(new float[] {(float) weightDecay});
        try {
            b.copyStrided(grad.storage(), 0, shape, dense, direction, 0, dense);
            if (weightDecay != 0) {                                    // g ← g + wd·p
                Storage decay = b.allocate(dev.kiln.api.backend.DType.FLOAT32, n);
                b.binary(BinaryOp.MUL, p, dense, constant, scalar, decay, shape);
                b.binary(BinaryOp.ADD, direction, dense, decay, dense, direction, shape);
                b.release(decay);
            }
            if (momentum != 0) {
                boolean first = !hasState(name, "momentum_buffer");
                Storage buffer = stateOf(name, "momentum_buffer", parameter).storage();
                if (first) {
                    b.copyStrided(direction, 0, shape, dense, buffer, 0, dense);
                } else {
                    b.release(constant);
                    constant = b.upload(new float[] {(float) momentum});
                    b.binary(BinaryOp.MUL, buffer, dense, constant, scalar, buffer, shape);
                    b.binary(BinaryOp.ADD, buffer, dense, direction, dense, buffer, shape);
                }
                b.copyStrided(buffer, 0, shape, dense, direction, 0, dense);
            }
            b.release(constant);
            constant = b.upload(new float[] {(float) lr});
            b.binary(BinaryOp.MUL, direction, dense, constant, scalar, direction, shape);
            b.binary(BinaryOp.SUB, p, dense, direction, dense, p, shape);
        } finally {
            b.release(direction);
            b.release(constant);
        }
    }
}
