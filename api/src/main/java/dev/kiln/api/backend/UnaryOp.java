package dev.kiln.api.backend;

/** Elementwise functions of one float32 operand. */
public enum UnaryOp {
    NEG, EXP, LOG, TANH, SIGMOID, RELU, SQRT, ABS, RECIPROCAL,
    /** 1 where x > 0, else 0: the derivative of relu. */
    STEP,
    /** The error function (exact GELU, as PyTorch's {@code nn.GELU()} and {@code nn.Transformer} use it). */
    ERF;

    /** The scalar definition every backend must agree with (the conformance kit compares against it). */
    public float apply(float x) {
        return switch (this) {
            case NEG -> -x;
            case EXP -> (float) Math.exp(x);
            case LOG -> (float) Math.log(x);
            case TANH -> (float) Math.tanh(x);
            case SIGMOID -> (float) (1.0 / (1.0 + Math.exp(-x)));
            case RELU -> x > 0f ? x : 0f;
            case SQRT -> (float) Math.sqrt(x);
            case ABS -> Math.abs(x);
            case RECIPROCAL -> 1f / x;
            case STEP -> x > 0f ? 1f : 0f;
            case ERF -> (float) erf(x);
        };
    }

    /**
     * erf in double precision to about 1e-7 relative error: the Maclaurin series near 0, where 1 − erfc would cancel,
     * and beyond it the Chebyshev-fitted erfc of Numerical Recipes (fractional error below 1.2e-7).
     */
    public static double erf(double x) {
        double z = Math.abs(x);
        if (z < 0.5) {
            double x2 = x * x;
            // 2/√π · Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)), to n = 6
            double sum = 1.0 / 13 / 720;
            sum = 1.0 / 11 / 120 - x2 * sum;
            sum = 1.0 / 9 / 24 - x2 * sum;
            sum = 1.0 / 7 / 6 - x2 * sum;
            sum = 1.0 / 5 / 2 - x2 * sum;
            sum = 1.0 / 3 - x2 * sum;
            sum = 1.0 - x2 * sum;
            return 2.0 / Math.sqrt(Math.PI) * x * sum;
        }
        double t = 1.0 / (1.0 + 0.5 * z);
        double erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - erfc : erfc - 1.0;
    }
}
