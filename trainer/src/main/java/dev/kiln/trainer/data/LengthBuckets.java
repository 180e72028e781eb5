package dev.kiln.trainer.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

/**
 * The order in which a task's training examples form global batches, from a seed alone: each epoch shuffles the
 * examples (from seed and epoch), sorts each bucket of {@value #BUCKET_BATCHES} global batches' worth by length so
 * that little of a batch is padding, cuts the buckets into global batches and shuffles their order. The cursor counts
 * global batches, so {@link #seek} resumes exactly; the examples left over after the last whole batch of an epoch sit
 * that epoch out.
 */
public final class LengthBuckets {
    /** Global batches per bucket sorted by length. */
    public static final int BUCKET_BATCHES = 32;

    private final int count;
    private final Comparator<Integer> byLength;
    private final int globalRows;
    private final long seed;
    private final int perEpoch;
    private long cursor;
    private int plannedEpoch = -1;
    private List<int[]> plan;

    /** {@code count} examples (at least {@code globalRows}), ordered within a bucket by {@code byLength}. */
    public LengthBuckets(int count, Comparator<Integer> byLength, int globalRows, long seed) {
        this.count = count;
        this.byLength = byLength;
        this.globalRows = globalRows;
        this.seed = seed;
        this.perEpoch = count / globalRows;
    }

    /** The example indices of the next global batch (globalRows of them; rank r takes its own slice). */
    public int[] next() {
        int epoch = (int) (cursor / perEpoch);
        if (epoch != plannedEpoch) {
            plan = plan(epoch);
            plannedEpoch = epoch;
        }
        return plan.get((int) (cursor++ % perEpoch));
    }

    public long cursor() {
        return cursor;
    }

    public void seek(long cursor) {
        this.cursor = cursor;
    }

    private List<int[]> plan(int epoch) {
        Random random = new Random(seed * 1_000_003L + epoch);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            order.add(i);
        }
        Collections.shuffle(order, random);
        order = order.subList(0, perEpoch * globalRows);
        List<int[]> batches = new ArrayList<>(perEpoch);
        int bucket = globalRows * BUCKET_BATCHES;
        for (int from = 0; from < order.size(); from += bucket) {
            List<Integer> part = new ArrayList<>(order.subList(from, Math.min(order.size(), from + bucket)));
            part.sort(byLength);
            for (int b = 0; b + globalRows <= part.size(); b += globalRows) {
                batches.add(part.subList(b, b + globalRows).stream().mapToInt(Integer::intValue).toArray());
            }
        }
        Collections.shuffle(batches, random);
        return batches;
    }
}
