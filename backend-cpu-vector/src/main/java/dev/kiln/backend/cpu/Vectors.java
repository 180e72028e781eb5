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
    static final VectorSpecies<Float> F = choose();
    static final int LANES = F.length();

    private Vectors() {
    }

    private static VectorSpecies<Float> choose() {
        String bits = System.getProperty("kiln.cpu.vectorBits");
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return FloatVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Integer.parseInt(bits.trim())))
                .check(Float.class);
    }
}
