package dev.kiln.api.backend;

/** Distributions for {@link Backend#randomFill}: UNIFORM on [a, b), NORMAL with mean a and standard deviation b. */
public enum Distribution {
    UNIFORM, NORMAL
}
