package dev.kiln.tokenizer.bpe;

import java.util.Arrays;

/**
 * Token bytes → rank, looked up by a slice of a byte array without copying it: the encoder asks for every candidate
 * pair of every piece, so the lookup must not allocate. Open addressing with linear probing, FNV-1a hashes.
 */
final class RankTable {
    private final byte[][] keys;
    private final int[] values;
    private final int mask;

    RankTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new byte[capacity][];
        values = new int[capacity];
        mask = capacity - 1;
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
