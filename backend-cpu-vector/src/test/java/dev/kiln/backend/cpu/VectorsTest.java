package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The width named by {@code -Dkiln.cpu.vectorBits}, read the way the backend reads it at class initialisation. */
class VectorsTest {

    @Test
    void noPropertyMeansThePreferredWidth() {
        assertEquals(FloatVector.SPECIES_PREFERRED, Vectors.species(null));
        assertEquals(FloatVector.SPECIES_PREFERRED, Vectors.species(" "));
    }

    @Test
    void aNamedWidthGivesThatManyFloatLanes() {
        assertEquals(4, Vectors.species("128").length());
        assertEquals(8, Vectors.species(" 256 ").length());
        assertEquals(16, Vectors.species("512").length());
        assertEquals(float.class, Vectors.species("128").elementType());
    }

    @Test
    void aWidthThatIsNoVectorSizeIsOneClearError() {
        for (String bits : new String[] {"100", "wide", "0"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Vectors.species(bits));
            assertTrue(e.getMessage().contains("kiln.cpu.vectorBits=" + bits), e.getMessage());
        }
    }
}
