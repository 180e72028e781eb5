package dev.kiln.api.model;

/**
 * An incremental decoder whose rows can be reordered between steps: beam search keeps the best continuations and
 * gives row i the state (caches, position) of row {@code rows[i]}, possibly several rows the same source.
 */
public interface BeamDecoder extends Decoder {
    /** Row i continues from what row {@code rows[i]} held; {@code rows.length} becomes the batch size. */
    void reorder(int[] rows);
}
