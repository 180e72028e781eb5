package dev.kiln.api.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kiln.api.KilnException;
import org.junit.jupiter.api.Test;

class LrScheduleTest {
    @Test
    void warmupThenCosineDecayLikeNanoGpt() {
        LrSchedule s = LrSchedule.warmupCosine(1e-3, 1e-4, 10, 110);
        assertEquals(1e-4, s.lr(0), 1e-12);                      // (0 + 1) / 10 of the peak
        assertEquals(1e-3, s.lr(9), 1e-12);                      // warmup ends at the peak
        assertEquals(1e-3, s.lr(10), 1e-12);                     // cosine starts at the peak
        assertEquals(0.55e-3, s.lr(60), 1e-12);                  // halfway: the mean of peak and floor
        assertEquals(1e-4, s.lr(110), 1e-12);
        assertEquals(1e-4, s.lr(5000), 1e-12);
    }

    @Test
    void constantAndLinearWarmup() {
        assertEquals(0.5, LrSchedule.constant(0.5).lr(123));
        assertEquals(0.25, LrSchedule.linearWarmup(1.0, 4).lr(0));
        assertEquals(1.0, LrSchedule.linearWarmup(1.0, 4).lr(100));
    }

    @Test
    void rejectsAnImpossibleSchedule() {
        assertThrows(KilnException.class, () -> LrSchedule.warmupCosine(1, 0, 10, 10));
    }
}
