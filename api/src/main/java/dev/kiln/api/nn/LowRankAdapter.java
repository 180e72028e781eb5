package dev.kiln.api.nn;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LoRA (Hu et al. 2021) as PEFT defines it: W' = W + (α / r)·B·A with A (r, in) and B (out, r), applied to an input as
 * x·W + (α / r)·dropout(x)·Aᵀ·Bᵀ. A starts Kaiming-uniform (PyTorch's {@code kaiming_uniform_(a=√5)}: U(±1/√in)) and B
 * at zero, so a fresh adapter changes nothing. For a weight stored (in, out) the update is (B·A)ᵀ.
 */
public final class LowRankAdapter implements WeightAdapter {
    private final Tensor a;                 // lora_A.weight (r, in)
    private final Tensor b;                 // lora_B.weight (out, r)
    private final float scaling;
    private final float dropout;
    private final Generator generator;

    public LowRankAdapter(Backend backend, int in, int out, int rank, double alpha, float dropout, Generator generator) {
        if (rank < 1) {
            throw new KilnException("lora: r must be at least 1, got " + rank);
        }
        if (dropout < 0f || dropout >= 1f) {
            throw new KilnException("lora: dropout must be in [0, 1), got " + dropout);
        }
        float bound = (float) (1.0 / Math.sqrt(in));
        this.a = Tensor.uniform(backend, -bound, bound, generator, rank, in).requiresGrad(true);
        this.b = Tensor.zeros(backend, out, rank).requiresGrad(true);
        this.scaling = (float) (alpha / rank);
        this.dropout = dropout;
        this.generator = generator;
    }

    public Tensor a() {
        return a;
    }

    public Tensor b() {
        return b;
    }

    public float scaling() {
        return scaling;
    }

    @Override
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("lora_A.weight", a);
        out.put("lora_B.weight", b);
        return out;
    }

    /** (α / r)·B·A as an (out, in) matrix. */
    private Tensor delta() {
        return b.matmul(a).mul(scaling);
    }

    @Override
    public Tensor adapt(Tensor base, WeightLayout layout) {
        return base.add(layout.fromOutIn(delta()));
    }

    @Override
    public Tensor project(Tensor x, Tensor base, WeightLayout layout, int from, int to, boolean training) {
        Tensor bRows = from == 0 && to == b.size(0) ? b : b.slice(0, from, to);
        if (dropout == 0f || !training) {                                            // frozen W: no dW
            return x.matmulWithLowRank(layout.operand(base, from, to), a.mT(), bRows.mT(), scaling);
        }
        Tensor y = layout.apply(x, base, from, to);
        Tensor dropped = x.dropout(dropout, true, generator);
        Tensor low = dropped.matmul(a.mT()).mul(scaling);                            // (…, r), scaled while narrow
        return y.add(low.matmul(bRows.mT()));                                         // (…, to - from)
    }

    @Override
    public boolean needsProjection() {
        return dropout > 0f;
    }

    @Override
    public void mergeInto(Tensor base, WeightLayout layout) {
        try (GradMode.NoGrad off = GradMode.noGrad()) {
            base.copyFrom(adapt(base, layout));
        }
    }
}
