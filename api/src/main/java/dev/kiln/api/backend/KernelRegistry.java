package dev.kiln.api.backend;

import dev.kiln.api.KilnException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The fused-operation kernels one backend instance accelerates, keyed by operation. A backend builds its registry
 * explicitly when it is created (no static initializers) and returns it from {@link Backend#kernels()}; operations it
 * does not list run their composition.
 */
public final class KernelRegistry {
    /** No kernels: every fused operation runs its composition. */
    public static final KernelRegistry EMPTY = new KernelRegistry(Map.of());

    private final Map<FusedOperation<?>, Object> kernels;

    private KernelRegistry(Map<FusedOperation<?>, Object> kernels) {
        this.kernels = kernels;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The kernel registered for {@code operation}, or null. */
    public <K> K find(FusedOperation<K> operation) {
        Object kernel = kernels.get(operation);
        return kernel == null ? null : operation.kernelType().cast(kernel);
    }

    /** The operations with a registered kernel, in registration order. */
    public Set<FusedOperation<?>> operations() {
        return kernels.keySet();
    }

    public static final class Builder {
        /** Operations compare by identity (one instance each), in registration order. */
        private final Map<FusedOperation<?>, Object> kernels = new LinkedHashMap<>();

        private Builder() {
        }

        /** Registers {@code kernel} for {@code operation}; registering one operation twice is an error. */
        public <K> Builder register(FusedOperation<K> operation, K kernel) {
            if (!operation.kernelType().isInstance(kernel)) {
                throw new KilnException("kernel registry: " + kernel + " is not a " + operation.kernelType().getName()
                        + " for " + operation.name());
            }
            if (kernels.putIfAbsent(operation, kernel) != null) {
                throw new KilnException("kernel registry: a kernel for " + operation.name() + " is registered twice");
            }
            return this;
        }

        public KernelRegistry build() {
            return new KernelRegistry(Collections.unmodifiableMap(new LinkedHashMap<>(kernels)));
        }
    }
}
