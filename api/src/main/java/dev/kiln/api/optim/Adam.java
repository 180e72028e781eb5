package dev.kiln.api.optim;

import dev.kiln.api.backend.AdamStep;
import dev.kiln.api.ops.AdamUpdate;
import dev.kiln.api.tensor.Tensor;
import java.util.List;

/**
 * Adam (Kingma &amp; Ba) with PyTorch's arithmetic, and AdamW (Loshchilov &amp; Hutter) when {@code decoupled}: weight
 * decay then shrinks the weights directly instead of joining the gradient. The update is the backend's fused
 * {@link AdamUpdate} fused operation.
 */
public class Adam extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final boolean decoupled;

    public Adam(List<ParamGroup> groups, double lr, double beta1, double beta2, double eps, boolean decoupled) {
        super(groups, lr);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.decoupled = decoupled;
    }

    /** torch.optim.Adam defaults: betas (0.9, 0.999), eps 1e-8, L2 weight decay from the groups. */
    public static Adam adam(List<ParamGroup> groups, double lr) {
        return new Adam(groups, lr, 0.9, 0.999, 1e-8, false);
    }

    /** torch.optim.AdamW: decoupled weight decay from the groups. */
    public static Adam adamW(List<ParamGroup> groups, double lr, double beta1, double beta2) {
        return new Adam(groups, lr, beta1, beta2, 1e-8, true);
    }

    @Override
    protected void update(String name, Tensor parameter, Tensor grad, double lr, double weightDecay, int step) {
        requireFloat(parameter);
        Tensor m = stateOf(name, "exp_avg", parameter);
        Tensor v = stateOf(name, "exp_avg_sq", parameter);
        AdamUpdate.OP.kernel(parameter.backend()).update(parameter.storage(), grad.storage(), m.storage(), v.storage(),
                new AdamStep(lr, beta1, beta2, eps, weightDecay, decoupled, step));
    }
}
