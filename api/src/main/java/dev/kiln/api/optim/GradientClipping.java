package dev.kiln.api.optim;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.DType;
import dev.kiln.api.tensor.Tensor;
import java.util.Collection;

/** Global-norm gradient clipping, as {@code torch.nn.utils.clip_grad_norm_}. */
public final class GradientClipping {
    private GradientClipping() {
    }

    /** The L2 norm of all gradients together (parameters without a gradient count as zero). */
    public static double globalNorm(Collection<Tensor> parameters) {
        double sumOfSquares = 0;
        for (Tensor p : parameters) {
            Tensor g = p.grad();
            if (g == null) {
                continue;
            }
            Backend b = g.backend();
            int n = g.numel();
            Storage squares = b.allocate(DType.FLOAT32, n);
            Storage total = b.allocate(DType.FLOAT32, 1);
            try {
                b.binary(BinaryOp.MUL, g.storage(), new int[] {1}, g.storage(), new int[] {1}, squares, new int[] {n});
                b.reduce(ReduceOp.SUM, squares, 1, n, 1, total);
                float[] value = new float[1];
                b.download(total, value);
                sumOfSquares += value[0];
            } finally {
                b.release(squares);
                b.release(total);
            }
        }
        return Math.sqrt(sumOfSquares);
    }

    /** Scales all gradients so that their global norm is at most maxNorm; returns the norm before clipping. */
    public static double clipGradNorm(Collection<Tensor> parameters, double maxNorm) {
        double norm = globalNorm(parameters);
        double coefficient = maxNorm / (norm + 1e-6);
        if (coefficient < 1.0) {
            for (Tensor p : parameters) {
                Tensor g = p.grad();
                if (g == null) {
                    continue;
                }
                Backend b = g.backend();
                Storage factor = b.upload(new float[] {(float) coefficient});
                try {
                    b.binary(BinaryOp.MUL, g.storage(), new int[] {1}, factor, new int[] {0}, g.storage(),
                            new int[] {g.numel()});
                } finally {
                    b.release(factor);
                }
            }
        }
        return norm;
    }
}
