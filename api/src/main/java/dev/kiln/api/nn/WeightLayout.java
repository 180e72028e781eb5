package dev.kiln.api.nn;

import dev.kiln.api.tensor.Tensor;

/** How a projection's weight matrix is stored, which decides how an input is multiplied by it. */
public enum WeightLayout {
    /** (out, in), PyTorch's {@code nn.Linear} and {@code nn.LSTM}: y = x·Wᵀ. */
    OUT_IN,
    /** (in, out), Hugging Face's GPT-2 {@code Conv1D}: y = x·W (PEFT calls this {@code fan_in_fan_out}). */
    IN_OUT;

    public int in(Tensor weight) {
        return this == OUT_IN ? weight.size(1) : weight.size(0);
    }

    public int out(Tensor weight) {
        return this == OUT_IN ? weight.size(0) : weight.size(1);
    }

    /** x (…, in) → (…, to - from): the product with output features [from, to) of the weight. */
    public Tensor apply(Tensor x, Tensor weight, int from, int to) {
        return x.matmul(operand(weight, from, to));
    }

    /** Output features [from, to) of the weight as the (in, to - from) right operand of x·W, a view where whole. */
    public Tensor operand(Tensor weight, int from, int to) {
        boolean whole = from == 0 && to == out(weight);
        return this == OUT_IN
                ? (whole ? weight : weight.slice(0, from, to)).mT()
                : whole ? weight : weight.slice(1, from, to);
    }

    /** A (out, in) matrix laid out this way: itself for OUT_IN, its transpose for IN_OUT. */
    public Tensor fromOutIn(Tensor outIn) {
        return this == OUT_IN ? outIn : outIn.mT();
    }
}
