package dev.kiln.api.tensor;

import dev.kiln.api.backend.CounterRandom;

/**
 * A seeded source of random-fill seeds (PyTorch's {@code torch.Generator}). Each random operation takes the next seed,
 * and the backend derives every element from (seed, index), so results depend on the seed and the order of random
 * operations only — never on the backend or thread count. {@link #state()} and {@link #restore} let checkpoints resume
 * the exact stream.
 */
public final class Generator {
    private long seed;
    private long counter;

    public Generator(long seed) {
        this.seed = seed;
    }

    private static final Generator DEFAULT = new Generator(0);

    /** The process-wide generator used when none is passed; reseed it with {@link #manualSeed}. */
    public static Generator defaultGenerator() {
        return DEFAULT;
    }

    /** Reseeds this generator, as {@code torch.manual_seed}. */
    public synchronized Generator manualSeed(long newSeed) {
        this.seed = newSeed;
        this.counter = 0;
        return this;
    }

    public synchronized long nextSeed() {
        return CounterRandom.mix(seed, counter++);
    }

    /** {seed, counter}: everything needed to continue the stream. */
    public synchronized long[] state() {
        return new long[] {seed, counter};
    }

    public synchronized void restore(long[] state) {
        if (state.length != 2) {
            throw new IllegalArgumentException("generator state has 2 values, got " + state.length);
        }
        this.seed = state[0];
        this.counter = state[1];
    }
}
