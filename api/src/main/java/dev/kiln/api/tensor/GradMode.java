package dev.kiln.api.tensor;

/**
 * Whether operations record the autograd graph on this thread. {@code try (var g = GradMode.noGrad()) { ... }} is
 * PyTorch's {@code torch.no_grad()}: evaluation and generation build no graph and keep no activations.
 */
public final class GradMode {
    private static final ThreadLocal<int[]> DISABLED_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private GradMode() {
    }

    public static boolean isEnabled() {
        return DISABLED_DEPTH.get()[0] == 0;
    }

    /** Disables graph recording until the returned handle is closed; nests. */
    public static NoGrad noGrad() {
        DISABLED_DEPTH.get()[0]++;
        return new NoGrad();
    }

    /** The handle of a no-grad region. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                DISABLED_DEPTH.get()[0]--;
            }
        }
    }
}
