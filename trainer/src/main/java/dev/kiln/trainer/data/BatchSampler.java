package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.CounterRandom;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.api.tensor.Tensor;

/**
 * Random windows of context + 1 tokens: inputs and their next-token targets, as nanoGPT's {@code get_batch}. Window
 * {@code n} of a run starts at a position drawn from (seed, n) alone, so the data cursor is one number — how many
 * windows the whole job has drawn — and a resumed run draws exactly what an uninterrupted one would. Of each global
 * batch of {@code worldSize × batch} windows, rank r takes windows [r·batch, (r + 1)·batch).
 */
public final class BatchSampler implements BatchStream {
    private final TokenSequence tokens;
    private final int batch;
    private final int context;
    private final long seed;
    private final int rank;
    private final int worldSize;
    private long cursor;

    public BatchSampler(TokenSequence tokens, int batch, int context, long seed, int rank, int worldSize) {
        if (tokens.length() < context + 2) {
            throw new KilnException("the training split has " + tokens.length() + " tokens, fewer than one window of "
                    + "context " + context + " + 1; use more data or a smaller train.context");
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new KilnException("batch sampler: rank " + rank + " of a world of " + worldSize);
        }
        this.tokens = tokens;
        this.batch = batch;
        this.context = context;
        this.seed = seed;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    /** The next (inputs, targets) of this rank, each (batch, context) int32. */
    @Override
    public Batch next(Backend backend) {
        int[] x = new int[batch * context];
        int[] y = new int[batch * context];
        int starts = tokens.length() - context;
        long first = cursor + (long) rank * batch;
        for (int b = 0; b < batch; b++) {
            int start = (int) Long.remainderUnsigned(CounterRandom.mix(seed, first + b), starts);
            tokens.get(start, x, b * context, context);
            tokens.get(start + 1, y, b * context, context);
        }
        cursor += (long) batch * worldSize;
        return new Batch(ModelInputs.ids(Tensor.ofInts(backend, x, batch, context)),
                Tensor.ofInts(backend, y, batch, context), (long) batch * context);
    }

    /** How many windows the job has drawn: the data cursor a checkpoint keeps. */
    @Override
    public long cursor() {
        return cursor;
    }

    @Override
    public void seek(long windowsDrawn) {
        this.cursor = windowsDrawn;
    }
}
