package dev.kiln.api.backend;

/**
 * The hyperparameters of one Adam step, in double precision as PyTorch holds them (so that constants such as
 * 1 − β₂ round as PyTorch's do). {@code decoupled} selects AdamW (weight decay applied to the parameter) over Adam's
 * L2 penalty (weight decay added to the gradient); {@code step} counts from 1.
 */
public record AdamStep(double lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled,
                       int step) {
}
