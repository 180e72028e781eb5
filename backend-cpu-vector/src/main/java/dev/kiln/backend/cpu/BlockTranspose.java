package dev.kiln.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small float blocks rearranged in registers, for the GEMM's packs: A into k-major panels (four rows' values for one k
 * side by side), for which a row-major A needs four of its rows transposed and a transposed A only each of its rows cut
 * into halves; and a transposed B into panels of rows of B, 8 × 8 at a time. Read element by element, a transpose costs a load, a store and index arithmetic per float
 * (about 1 ns): packing a transposed A that way once took 15 % of a weight-gradient product.
 *
 * <p>The blocks are eight floats wide whatever width the kernels use, so these paths run on 256-bit vectors, which
 * every machine whose kernels use 256 bits or more has (AVX2, AVX-512); narrower ones keep the scalar paths. (On an
 * AVX-512 machine the packs once fell back to the scalar paths, because these were written with the kernels' species:
 * the GEMM ran 3–7 % slower at n = 2048 and 1024.)
 */
final class BlockTranspose {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final int LANES = F.length();
    static final boolean SUPPORTED = Vectors.LANES >= LANES;
    static final int SIZE = 8;

    // stage d exchanges lanes d apart: UP moves lane j - d to lane j, DOWN lane j + d to lane j, HIGH marks lanes j
    // with bit d set
    private static final VectorShuffle<Float> UP1 = shuffle(1, true);
    private static final VectorShuffle<Float> UP2 = shuffle(2, true);
    private static final VectorShuffle<Float> UP4 = shuffle(4, true);
    private static final VectorShuffle<Float> DOWN1 = shuffle(1, false);
    private static final VectorShuffle<Float> DOWN2 = shuffle(2, false);
    private static final VectorShuffle<Float> DOWN4 = shuffle(4, false);
    private static final VectorMask<Float> HIGH1 = highLanes(1);
    private static final VectorMask<Float> HIGH2 = highLanes(2);
    private static final VectorMask<Float> HIGH4 = highLanes(4);

    private BlockTranspose() {
    }

    /**
     * to[dst + 4·j + r] = from[src + r·ldFrom + j] for r < 4, j < 8: four rows of eight, transposed into eight groups
     * of four. After the stages of distance 1 and 2, each half of the four vectors holds a transposed 4 × 4 block
     * (one value of j per vector); the last stage pairs up consecutive values of j.
     */
    static void fourRows(float[] from, int src, int ldFrom, float[] to, int dst) {
        FloatVector r0 = FloatVector.fromArray(F, from, src);
        FloatVector r1 = FloatVector.fromArray(F, from, src + ldFrom);
        FloatVector r2 = FloatVector.fromArray(F, from, src + 2 * ldFrom);
        FloatVector r3 = FloatVector.fromArray(F, from, src + 3 * ldFrom);
        FloatVector t0 = low(r0, r1, UP1, HIGH1);
        FloatVector t1 = high(r0, r1, DOWN1, HIGH1);
        FloatVector t2 = low(r2, r3, UP1, HIGH1);
        FloatVector t3 = high(r2, r3, DOWN1, HIGH1);
        FloatVector j04 = low(t0, t2, UP2, HIGH2);           // j = 0 in the low half, j = 4 in the high one
        FloatVector j15 = low(t1, t3, UP2, HIGH2);
        FloatVector j26 = high(t0, t2, DOWN2, HIGH2);
        FloatVector j37 = high(t1, t3, DOWN2, HIGH2);
        low(j04, j15, UP4, HIGH4).intoArray(to, dst);
        low(j26, j37, UP4, HIGH4).intoArray(to, dst + LANES);
        high(j04, j15, DOWN4, HIGH4).intoArray(to, dst + 2 * LANES);
        high(j26, j37, DOWN4, HIGH4).intoArray(to, dst + 3 * LANES);
    }

    /**
     * Two rows of eight cut into halves: to[lowDst + 4·q + r] = from[src + q·ldFrom + r] and to[highDst + 4·q + r] =
     * from[src + q·ldFrom + 4 + r] for q < 2, r < 4.
     */
    static void halves(float[] from, int src, int ldFrom, float[] to, int lowDst, int highDst) {
        FloatVector r0 = FloatVector.fromArray(F, from, src);
        FloatVector r1 = FloatVector.fromArray(F, from, src + ldFrom);
        low(r0, r1, UP4, HIGH4).intoArray(to, lowDst);
        high(r0, r1, DOWN4, HIGH4).intoArray(to, highDst);
    }

    /**
     * to[dst + j·ldTo + q] = from[src + q·ldFrom + j] for j, q < 8. After the stage of distance d, rows i and i + d
     * (bit d of i clear) hold the transposed 2d × 2d blocks of the rows they came from.
     */
    static void transpose(float[] from, int src, int ldFrom, float[] to, int dst, int ldTo) {
        FloatVector r0 = FloatVector.fromArray(F, from, src);
        FloatVector r1 = FloatVector.fromArray(F, from, src + ldFrom);
        FloatVector r2 = FloatVector.fromArray(F, from, src + 2 * ldFrom);
        FloatVector r3 = FloatVector.fromArray(F, from, src + 3 * ldFrom);
        FloatVector r4 = FloatVector.fromArray(F, from, src + 4 * ldFrom);
        FloatVector r5 = FloatVector.fromArray(F, from, src + 5 * ldFrom);
        FloatVector r6 = FloatVector.fromArray(F, from, src + 6 * ldFrom);
        FloatVector r7 = FloatVector.fromArray(F, from, src + 7 * ldFrom);
        FloatVector t0 = low(r0, r1, UP1, HIGH1);
        FloatVector t1 = high(r0, r1, DOWN1, HIGH1);
        FloatVector t2 = low(r2, r3, UP1, HIGH1);
        FloatVector t3 = high(r2, r3, DOWN1, HIGH1);
        FloatVector t4 = low(r4, r5, UP1, HIGH1);
        FloatVector t5 = high(r4, r5, DOWN1, HIGH1);
        FloatVector t6 = low(r6, r7, UP1, HIGH1);
        FloatVector t7 = high(r6, r7, DOWN1, HIGH1);
        r0 = low(t0, t2, UP2, HIGH2);
        r2 = high(t0, t2, DOWN2, HIGH2);
        r1 = low(t1, t3, UP2, HIGH2);
        r3 = high(t1, t3, DOWN2, HIGH2);
        r4 = low(t4, t6, UP2, HIGH2);
        r6 = high(t4, t6, DOWN2, HIGH2);
        r5 = low(t5, t7, UP2, HIGH2);
        r7 = high(t5, t7, DOWN2, HIGH2);
        low(r0, r4, UP4, HIGH4).intoArray(to, dst);
        low(r1, r5, UP4, HIGH4).intoArray(to, dst + ldTo);
        low(r2, r6, UP4, HIGH4).intoArray(to, dst + 2 * ldTo);
        low(r3, r7, UP4, HIGH4).intoArray(to, dst + 3 * ldTo);
        high(r0, r4, DOWN4, HIGH4).intoArray(to, dst + 4 * ldTo);
        high(r1, r5, DOWN4, HIGH4).intoArray(to, dst + 5 * ldTo);
        high(r2, r6, DOWN4, HIGH4).intoArray(to, dst + 6 * ldTo);
        high(r3, r7, DOWN4, HIGH4).intoArray(to, dst + 7 * ldTo);
    }

    /** Within each pair of d-lane groups: a's low group, then b's low group. */
    private static FloatVector low(FloatVector a, FloatVector b, VectorShuffle<Float> up, VectorMask<Float> high) {
        return a.blend(b.rearrange(up), high);
    }

    /** Within each pair of d-lane groups: a's high group, then b's high group. */
    private static FloatVector high(FloatVector a, FloatVector b, VectorShuffle<Float> down, VectorMask<Float> high) {
        return a.rearrange(down).blend(b, high);
    }

    private static VectorShuffle<Float> shuffle(int d, boolean up) {
        int[] source = new int[LANES];
        for (int j = 0; j < LANES; j++) {
            boolean bitSet = (j & d) != 0;
            source[j] = up ? (bitSet ? j - d : j) : (bitSet ? j : Math.min(LANES - 1, j + d));
        }
        return VectorShuffle.fromArray(F, source, 0);
    }

    private static VectorMask<Float> highLanes(int d) {
        boolean[] lanes = new boolean[LANES];
        for (int j = 0; j < LANES; j++) {
            lanes[j] = (j & d) != 0;
        }
        return VectorMask.fromArray(F, lanes, 0);
    }
}
