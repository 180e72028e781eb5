package dev.kiln.api.model;

import dev.kiln.api.tensor.Tensor;

/**
 * Incremental decoding of a ragged batch, for a server's continuous batching: a fixed number of slots, each holding
 * one sequence at its own position with its own cache length. Slots are opened, stepped together and released
 * independently; a released slot is reused by the next {@link #open()}. A slot's logits depend only on its own tokens,
 * not on which other slots share the step.
 */
public interface SlotDecoder extends AutoCloseable {
    /** How many slots exist. */
    int capacity();

    /** The most tokens one slot can hold (the model's context). */
    int maxLength();

    /** A free slot, emptied; an error when every slot is in use. */
    int open();

    /** Frees a slot at once (its sequence ended, or its client went away). */
    void release(int slot);

    /** How many tokens the slot has consumed. */
    int length(int slot);

    /**
     * Feeds {@code tokens[i]} (one or more, a prompt chunk or the last sampled token) to slot {@code slots[i]}, all in
     * one batched step, and returns the logits (slots.length, vocab) after each slot's last new token.
     */
    Tensor step(int[] slots, int[][] tokens);

    /** Releases the caches. */
    @Override
    void close();
}
