package dev.kiln.api.nn;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;

/** Inverted dropout, active only in training mode. Its randomness comes from the generator it was given. */
public final class Dropout extends Module {
    private final float p;
    private final Generator generator;

    public Dropout(float p, Generator generator) {
        if (p < 0f || p >= 1f) {
            throw new KilnException("Dropout: probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.generator = generator;
    }

    public Tensor forward(Tensor x) {
        return x.dropout(p, isTraining(), generator);
    }
}
