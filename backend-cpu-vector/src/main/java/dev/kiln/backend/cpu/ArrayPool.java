package dev.kiln.backend.cpu;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Released float arrays, kept by exact length for the next allocation of that size. A training step frees at its end
 * the same shapes the next step allocates, so after the first step almost nothing reaches the garbage collector (which
 * otherwise copies hundreds of megabytes of activations per young collection). Bounded in bytes; thread-safe.
 */
final class ArrayPool {
    private final long capacityBytes;
    private final Map<Integer, ArrayDeque<float[]>> free = new HashMap<>();
    private long pooledBytes;

    ArrayPool(long capacityBytes) {
        this.capacityBytes = capacityBytes;
    }

    /** A zero-filled array: a pooled one cleared (in parallel), or a new one. */
    float[] take(int length, Parallel parallel) {
        float[] array = pooled(length);
        if (array == null) {
            return new float[length];
        }
        parallel.forRange(length, 1 << 16, (start, end) -> Arrays.fill(array, start, end, 0f));
        return array;
    }

    /** An array whose contents do not matter: a pooled one as it was left, or a new one. */
    float[] takeAsLeft(int length) {
        float[] array = pooled(length);
        return array != null ? array : new float[length];
    }

    private synchronized float[] pooled(int length) {
        ArrayDeque<float[]> queue = free.get(length);
        float[] array = queue == null ? null : queue.pollLast();
        if (array != null) {
            pooledBytes -= 4L * length;
        }
        return array;
    }

    void give(float[] array) {
        if (array.length < 1024) {
            return;                                            // small arrays are cheaper to allocate than to track
        }
        synchronized (this) {
            if (pooledBytes + 4L * array.length > capacityBytes) {
                return;
            }
            free.computeIfAbsent(array.length, n -> new ArrayDeque<>()).addLast(array);
            pooledBytes += 4L * array.length;
        }
    }
}
