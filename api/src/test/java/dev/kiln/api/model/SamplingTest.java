package dev.kiln.api.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplingTest {
    @Test
    void aTemperatureOrTopPThatIsNotANumberIsRefused() {
        for (double temperature : new double[] {Double.NaN, Double.POSITIVE_INFINITY, -0.5}) {
            KilnException refused = assertThrows(KilnException.class,
                    () -> new Sampling(temperature, 0, 1.0, 1, 10, Set.of()));
            assertTrue(refused.getMessage().contains("temperature"), refused.getMessage());
        }
        assertThrows(KilnException.class, () -> new Sampling(0.8, 0, Double.NaN, 1, 10, Set.of()));
        new Sampling(0, 0, 1.0, 1, 10, Set.of());
    }
}
