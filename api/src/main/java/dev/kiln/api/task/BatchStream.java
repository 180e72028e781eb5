package dev.kiln.api.task;

import dev.kiln.api.backend.Backend;

/**
 * A task's training batches in a fixed order from a seed. The cursor is one number (how far the global stream has
 * gone), saved in checkpoints: after {@link #seek} the stream yields exactly what an uninterrupted run would.
 */
public interface BatchStream {
    /** The next micro-batch of this rank's shard, on {@code backend}. */
    Batch next(Backend backend);

    long cursor();

    void seek(long cursor);
}
