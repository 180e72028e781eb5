package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ArrayAlignmentTest {
    @Test
    void theBuildGrantsTheNativeAccessThatFindsAddresses() {
        // the root pom's kiln.jvm.flags name this module in --enable-native-access; without it the GEMM packs
        // silently lose their alignment
        assertTrue(ArrayAlignment.available(), "no native access for " + ArrayAlignment.class.getModule());
    }

    @Test
    void firstLineIndexCountsFloatsToTheNextLine() {
        assertEquals(0, ArrayAlignment.firstLineIndex(0L));
        assertEquals(0, ArrayAlignment.firstLineIndex(64L * 12345));
        assertEquals(15, ArrayAlignment.firstLineIndex(64L * 7 + 4));
        assertEquals(12, ArrayAlignment.firstLineIndex(64L * 7 + 16));
        assertEquals(1, ArrayAlignment.firstLineIndex(64L * 7 + 60));
        assertEquals(2, ArrayAlignment.firstLineIndex(0x7fff_ffff_fff8L));
    }

    /** A collection may move arrays between two reads, so each check retries until nothing moved around it. */
    @Test
    void addressesAreThoseOfTheArraysThemselves() {
        float[] array = new float[1000];
        float[] other = new float[1000];
        for (int attempt = 0; ; attempt++) {
            long address = ArrayAlignment.address(array);
            int index = ArrayAlignment.firstLineIndex(array);
            long otherAddress = ArrayAlignment.address(other);
            if (address != ArrayAlignment.address(array) || otherAddress != ArrayAlignment.address(other)) {
                assertTrue(attempt < 100, "the arrays moved on every one of 100 tries");
                continue;
            }
            assertTrue(address != 0 && address % Float.BYTES == 0, "address " + address);
            assertEquals(ArrayAlignment.firstLineIndex(address), index);
            // distinct live arrays do not overlap
            assertTrue(Math.abs(otherAddress - address) >= 1000L * Float.BYTES, address + " and " + otherAddress);
            return;
        }
    }

    @Test
    void anEmptyArrayNeedsNoAddress() {
        assertEquals(0, ArrayAlignment.firstLineIndex(new float[0]));
    }
}
