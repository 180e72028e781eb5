package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import java.util.Arrays;

/**
 * The bookkeeping every {@link SlotDecoder} shares: which slots are open, how many tokens each holds, and the checks
 * on one step's request (every slot open and named once, at least one token each, all fitting in maxLength). A model's
 * slot decoder keeps its own caches beside it.
 */
public final class DecoderSlots {
    private final String model;
    private final int maxLength;
    private final int[] lengths;
    private final boolean[] open;

    /** {@code model} names the model in error messages. */
    public DecoderSlots(String model, int capacity, int maxLength) {
        if (capacity < 1 || maxLength < 1) {
            throw new KilnException(model + ": a slot decoder needs at least one slot of at least one token, got "
                    + capacity + " slots of " + maxLength);
        }
        this.model = model;
        this.maxLength = maxLength;
        this.lengths = new int[capacity];
        this.open = new boolean[capacity];
    }

    public int capacity() {
        return open.length;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The lowest free slot, now open and empty; an error when every slot is in use. */
    public int open() {
        for (int slot = 0; slot < open.length; slot++) {
            if (!open[slot]) {
                open[slot] = true;
                lengths[slot] = 0;
                return slot;
            }
        }
        throw new KilnException(model + ": all " + open.length + " decoder slots are in use");
    }

    public void release(int slot) {
        check(slot);
        open[slot] = false;
        lengths[slot] = 0;
    }

    public int length(int slot) {
        check(slot);
        return lengths[slot];
    }

    /** Checks one step's request before anything is computed: an error names the first thing wrong. */
    public void checkStep(int[] slots, int[][] tokens) {
        if (slots.length == 0 || slots.length != tokens.length) {
            throw new KilnException(model + ": a decoder step needs one token list per slot, got " + slots.length
                    + " slots and " + tokens.length + " lists");
        }
        boolean[] seen = new boolean[open.length];
        for (int i = 0; i < slots.length; i++) {
            check(slots[i]);
            if (seen[slots[i]]) {
                throw new KilnException(model + ": slot " + slots[i] + " appears twice in one decoder step");
            }
            seen[slots[i]] = true;
            if (tokens[i].length == 0 || lengths[slots[i]] + tokens[i].length > maxLength) {
                throw new KilnException(model + ": slot " + slots[i] + " holds " + lengths[slots[i]] + " tokens; "
                        + tokens[i].length + " more do not fit in " + maxLength + " (and at least one is needed)");
            }
        }
    }

    /** After a step: each slot holds its new tokens too. */
    public void advance(int[] slots, int[][] tokens) {
        for (int i = 0; i < slots.length; i++) {
            lengths[slots[i]] += tokens[i].length;
        }
    }

    /** Every slot free again (the decoder was closed). */
    public void releaseAll() {
        Arrays.fill(open, false);
        Arrays.fill(lengths, 0);
    }

    private void check(int slot) {
        if (slot < 0 || slot >= open.length || !open[slot]) {
            throw new KilnException(model + ": decoder slot " + slot + " is not open (capacity " + open.length + ")");
        }
    }
}
