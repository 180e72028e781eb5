package dev.kiln.model.transformer;

import dev.kiln.api.tensor.Tensor;

/** Where a block's attention keeps the keys and values of earlier positions while decoding. */
interface AttentionCache {
    /** q, k, v (B, H, t, D) of the new tokens → attention output (B, H, t, D) over the cached prefix and themselves. */
    Tensor attend(Tensor q, Tensor k, Tensor v);
}
