package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.tensor.Tensor;
import java.nio.IntBuffer;

/**
 * Random windows of context + 1 tokens: inputs and their next-token targets, as nanoGPT's {@code get_batch}. Window
 * {@code n} of a run starts at a position drawn from (seed, n) alone, so the data cursor is one number — how many
 * windows were drawn — and a resumed run draws exactly what an uninterrupted one would.
 */
public final class BatchSampler {
    private final IntBuffer tokens;
    private final int batch;
    private final int context;
    private final long seed;
    private long cursor;

    public BatchSampler(IntBuffer tokens, int batch, int context, long seed) {
        if (tokens.limit() < context + 2) {
            throw new KilnException("the training split has " + tokens.limit() + " tokens, fewer than one window of "
                    + "context " + context + " + 1; use more data or a smaller train.context");
        }
        this.tokens = tokens;
        this.batch = batch;
        this.context = context;
        this.seed = seed;
    }

    /** The next (inputs, targets) pair, each (batch, context) int32. */
    public Tensor[] next(Backend backend) {
        int[] x = new int[batch * context];
        int[] y = new int[batch * context];
        int starts = tokens.limit() - context;
        for (int b = 0; b < batch; b++) {
            int start = (int) Long.remainderUnsigned(CounterRandom.mix(seed, cursor++), starts);
            tokens.get(start, x, b * context, context);
            tokens.get(start + 1, y, b * context, context);
        }
        return new Tensor[] {Tensor.ofInts(backend, x, batch, context), Tensor.ofInts(backend, y, batch, context)};
    }

    /** How many windows have been drawn: the data cursor a checkpoint keeps. */
    public long cursor() {
        return cursor;
    }

    public void seek(long windowsDrawn) {
        this.cursor = windowsDrawn;
    }
}
