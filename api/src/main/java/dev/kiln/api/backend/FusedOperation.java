package dev.kiln.api.backend;

import java.util.List;

/**
 * One fused operation (softmax, layer norm, attention, the Adam update, …): the JAX primitive / {@code torch.library}
 * idea. It names the kernel interface {@code K} that carries its forward computation and its backward rule, and holds
 * the reference composition of that kernel over {@link Backend} primitives. A backend that accelerates the operation
 * registers its own {@code K} in its {@link KernelRegistry}; every other backend runs the composition.
 *
 * <p>Adding a fused operation is one subclass in {@code dev.kiln.api.ops}; no backend changes, and the conformance kit
 * compares every registered kernel with the composition through {@link #sample}.
 *
 * @param <K> the kernel interface; implementations are bound to one backend and take only its storages
 */
public abstract class FusedOperation<K> {
    private final String name;
    private final Class<K> kernelType;

    protected FusedOperation(String name, Class<K> kernelType) {
        this.name = name;
        this.kernelType = kernelType;
    }

    public final String name() {
        return name;
    }

    public final Class<K> kernelType() {
        return kernelType;
    }

    /** The definition: this operation written with {@code backend}'s primitives only. */
    public abstract K composition(Backend backend);

    /** The kernel {@code backend} registered for this operation, or the composition when it registered none. */
    public final K kernel(Backend backend) {
        K registered = backend.kernels().find(this);
        return registered != null ? registered : composition(backend);
    }

    /**
     * Runs {@code kernel} (forward and backward) on deterministic inputs of awkward shapes on {@code backend} and returns
     * every output as host arrays, in a fixed order: the conformance kit runs it once with the registered kernel and
     * once with the composition and compares the two. Releases what it allocates.
     */
    public abstract List<float[]> sample(Backend backend, K kernel);

    @Override
    public String toString() {
        return name;
    }
}
