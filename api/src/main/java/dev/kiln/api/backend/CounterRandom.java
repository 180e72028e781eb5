package dev.kiln.api.backend;

/**
 * Counter-based random numbers: the value for (seed, index) is a pure function, so fills are identical on every
 * backend and for any number of threads. SplitMix64's finaliser mixes the pair.
 */
public final class CounterRandom {
    private CounterRandom() {
    }

    public static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + (index + 1) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform on [0, 1) with 24 random bits, exactly representable as a float. */
    public static float uniform(long seed, long index) {
        return (mix(seed, index) >>> 40) * 0x1.0p-24f;
    }

    /** Standard normal by Box–Muller from two uniforms of this index. */
    public static float normal(long seed, long index) {
        long bits = mix(seed, index);
        double u1 = ((bits >>> 40) + 1) * 0x1.0p-24;          // (0, 1]: log is finite
        double u2 = ((bits >>> 16) & 0xFFFFFF) * 0x1.0p-24;
        return (float) (Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2));
    }

    public static float sample(Distribution distribution, float a, float b, long seed, long index) {
        return switch (distribution) {
            case UNIFORM -> a + (b - a) * uniform(seed, index);
            case NORMAL -> a + b * normal(seed, index);
        };
    }
}
