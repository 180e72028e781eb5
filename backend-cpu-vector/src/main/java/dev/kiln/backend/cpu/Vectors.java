package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one float species every kernel uses, chosen once per JVM: the CPU's preferred width, or the width named by
 * {@code -Dkiln.cpu.vectorBits=128|256|512}. It must be a static final constant for C2 to compile vector code to
 * registers; a backend instance can still run scalar code instead ({@code vector.bits=0}).
 */
final class Vectors {
    static final VectorSpecies<Float> F = species(System.getProperty("kiln.cpu.vectorBits"));
    static final int LANES = F.length();

    private Vectors() {
    }

    /** The preferred species when {@code bits} is null or blank, else the float species of that many bits. */
    static VectorSpecies<Float> species(String bits) {
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        try {
            return VectorSpecies.of(float.class, VectorShape.forBitSize(Integer.parseInt(bits.trim())));
        } catch (IllegalArgumentException e) {               // not a number, or not a vector size
            throw new IllegalArgumentException("kiln.cpu.vectorBits=" + bits + " is not a vector width: use 64, 128, "
                    + "256 or 512", e);
        }
    }
}
