package dev.kiln.model.lstm;

import dev.kiln.api.tensor.Tensor;
import java.util.List;

/**
 * The recurrent state of every layer: h and c, each (B, hidden), as PyTorch's {@code (h_n, c_n)} split by layer.
 * Passed in and returned for truncated back-propagation through time and for generation; it carries no gradient.
 */
public record LstmState(List<Tensor> h, List<Tensor> c) {
    public LstmState {
        h = List.copyOf(h);
        c = List.copyOf(c);
    }
}
