package dev.kiln.tokenizer.bpe;

import java.util.Arrays;

/**
 * Token bytes → rank, looked up by a slice of a byte array without copying it: the encoder asks for every candidate
 * pair of every piece, so the lookup must not allocate. Tokens of up to 7 bytes (nearly every lookup) are packed into
 * a long with their length and found in a primitive table without comparing bytes; longer ones live in a byte-slice
 * table. Both use open addressing with linear probing.
 */
final class RankTable {
    private static final int PACKED_MAX = 7;

    private final long[] shortKeys;                // 0: empty (a packed key carries its length, so it is never 0)
    private final int[] shortValues;
    private final int shortMask;
    private final byte[][] keys;
    private final int[] values;
    private final int mask;

    RankTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        shortKeys = new long[capacity];
        shortValues = new int[capacity];
        shortMask = capacity - 1;
        keys = new byte[capacity][];
        values = new int[capacity];
        mask = capacity - 1;
    }

    private static long pack(byte[] bytes, int from, int to) {
        long packed = (long) (to - from) << 56;
        for (int i = from; i < to; i++) {
            packed |= (long) (bytes[i] & 0xFF) << (8 * (i - from));
        }
        return packed;
    }

    private int shortSlot(long packed) {
        return (int) ((packed * 0x9E3779B97F4A7C15L) >>> 40) & shortMask;
    }

    private static int hash(byte[] bytes, int from, int to) {
        int h = 0x811C9DC5;
        for (int i = from; i < to; i++) {
            h = (h ^ (bytes[i] & 0xFF)) * 0x01000193;
        }
        return h ^ (h >>> 16);
    }

    /** Adds a key; returns false if it was already present. */
    boolean put(byte[] key, int value) {
        if (key.length <= PACKED_MAX) {
            long packed = pack(key, 0, key.length);
            int slot = shortSlot(packed);
            while (shortKeys[slot] != 0) {
                if (shortKeys[slot] == packed) {
                    return false;
                }
                slot = (slot + 1) & shortMask;
            }
            shortKeys[slot] = packed;
            shortValues[slot] = value;
            return true;
        }
        int slot = hash(key, 0, key.length) & mask;
        while (keys[slot] != null) {
            if (Arrays.equals(keys[slot], key)) {
                return false;
            }
            slot = (slot + 1) & mask;
        }
        keys[slot] = key;
        values[slot] = value;
        return true;
    }

    /** The rank of bytes[from, to), or -1. */
    int get(byte[] bytes, int from, int to) {
        if (to == from) {
            return -1;                                   // no token is empty (and 0 marks an empty slot)
        }
        if (to - from <= PACKED_MAX) {
            long packed = pack(bytes, from, to);
            int slot = shortSlot(packed);
            while (true) {
                long key = shortKeys[slot];
                if (key == packed) {
                    return shortValues[slot];
                }
                if (key == 0) {
                    return -1;
                }
                slot = (slot + 1) & shortMask;
            }
        }
        int slot = hash(bytes, from, to) & mask;
        int length = to - from;
        while (true) {
            byte[] key = keys[slot];
            if (key == null) {
                return -1;
            }
            if (key.length == length && Arrays.equals(key, 0, length, bytes, from, to)) {
                return values[slot];
            }
            slot = (slot + 1) & mask;
        }
    }
}
