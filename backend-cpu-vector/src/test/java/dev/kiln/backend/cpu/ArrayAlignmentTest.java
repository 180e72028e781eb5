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

    @Test
    void addressesAreThoseOfTheArraysThemselves() {
        float[] array = new float[1000];
        long address = ArrayAlignment.address(array);
        assertTrue(address != 0 && address % Float.BYTES == 0, "address " + address);
        assertEquals(ArrayAlignment.firstLineIndex(address), ArrayAlignment.firstLineIndex(array));
        // distinct live arrays do not overlap
        float[] other = new float[1000];
        long otherAddress = ArrayAlignment.address(other);
        assertTrue(Math.abs(otherAddress - ArrayAlignment.address(array)) >= 1000L * Float.BYTES,
                address + " and " + otherAddress);
    }

    @Test
    void anEmptyArrayNeedsNoAddress() {
        assertEquals(0, ArrayAlignment.firstLineIndex(new float[0]));
    }
}
