package dev.kiln.api.backend;

/**
 * The hyperparameters of one Adam step. {@code decoupled} selects AdamW (weight decay applied to the parameter) over
 * Adam's L2 penalty (weight decay added to the gradient); {@code step} counts from 1.
 */
public record AdamStep(float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled, int step) {
}
