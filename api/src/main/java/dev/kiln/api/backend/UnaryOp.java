package dev.kiln.api.backend;

/** Elementwise functions of one float32 operand. */
public enum UnaryOp {
    NEG, EXP, LOG, TANH, SIGMOID, RELU, SQRT, ABS, RECIPROCAL,
    /** 1 where x > 0, else 0: the derivative of relu. */
    STEP;

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
        };
    }
}
