package dev.kiln.api.model;

import dev.kiln.api.tensor.Tensor;

/**
 * Incremental decoding: each call reads only the new tokens and returns the logits of the last one, carrying the
 * model's state (an RNN's hidden state, a transformer's KV cache), so a prompt is read once. The state belongs to
 * the decoder and outlives the scope of each call.
 */
public interface Decoder {
    /** ids (B, T) of new tokens → logits (B, vocab) after the last of them. */
    Tensor next(Tensor ids);
}
