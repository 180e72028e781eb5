package dev.kiln.api.backend;

/** Elementwise functions of two float32 operands (broadcasting is described by strides, see {@link Backend#binary}). */
public enum BinaryOp {
    ADD, SUB, MUL, DIV, POW, MAX, MIN,
    /** 1 where a == b, else 0. */
    EQ,
    /** 1 where a > b, else 0. */
    GT;

    /** The scalar definition every backend must agree with. */
    public float apply(float a, float b) {
        return switch (this) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case POW -> (float) Math.pow(a, b);
            case MAX -> Math.max(a, b);
            case MIN -> Math.min(a, b);
            case EQ -> a == b ? 1f : 0f;
            case GT -> a > b ? 1f : 0f;
        };
    }
}
