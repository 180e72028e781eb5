package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.Compositions;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import dev.kiln.api.plugin.Options;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Attention memory grows linearly with the context length on the cpu backend's fused kernel, and quadratically in the
 * composition from primitives: measured as the peak of live backend storage during a forward and backward pass, for
 * T = 256 … 2048 (batch·heads 4, head size 64).
 */
class AttentionMemoryTest {

    /** Forwards everything to a backend and records the peak number of live float elements. */
    static final class Metered implements Backend {
        final Backend inner;
        final Map<Storage, Integer> live = new java.util.IdentityHashMap<>();
        long current;
        long peak;

        Metered(Backend inner) {
            this.inner = inner;
        }

        private Storage track(Storage s) {
            live.put(s, s.size());
            current += s.size();
            peak = Math.max(peak, current);
            return s;
        }

        @Override public String id() { return inner.id(); }
        @Override public Storage allocate(DType dtype, int size) { return track(inner.allocate(dtype, size)); }
        @Override public Storage upload(float[] data) { return track(inner.upload(data)); }
        @Override public Storage upload(int[] data) { return track(inner.upload(data)); }
        @Override public void download(Storage s, float[] d) { inner.download(s, d); }
        @Override public void download(Storage s, int[] d) { inner.download(s, d); }
        @Override public void release(Storage s) {
            Integer size = live.remove(s);
            if (size != null) {
                current -= size;
            }
            inner.release(s);
        }
        @Override public long liveStorages() { return inner.liveStorages(); }
        @Override public void fill(Storage d, float v) { inner.fill(d, v); }
        @Override public void randomFill(Storage d, Distribution x, float a, float b, long seed) { inner.randomFill(d, x, a, b, seed); }
        @Override public void copyStrided(Storage s, int so, int[] shape, int[] ss, Storage d, int dof, int[] ds) { inner.copyStrided(s, so, shape, ss, d, dof, ds); }
        @Override public void unary(UnaryOp op, Storage x, Storage out) { inner.unary(op, x, out); }
        @Override public void binary(BinaryOp op, Storage a, int[] as, Storage b, int[] bs, Storage out, int[] shape) { inner.binary(op, a, as, b, bs, out, shape); }
        @Override public void reduce(ReduceOp op, Storage x, int outer, int axis, int inner2, Storage out) { inner.reduce(op, x, outer, axis, inner2, out); }
        @Override public void matmul(Storage a, Storage b, Storage c, MatmulShape shape) { inner.matmul(a, b, c, shape); }
        @Override public void gather(Storage t, int cols, Storage idx, Storage out) { inner.gather(t, cols, idx, out); }
        @Override public void scatterAdd(Storage src, int cols, Storage idx, Storage t) { inner.scatterAdd(src, cols, idx, t); }
    }

    /** Peak live elements beyond q, k, v, out, lse and dout for one forward and backward pass. */
    private static long peakWorkspace(Backend backend, boolean fused, int t) {
        Metered metered = new Metered(backend);
        int bh = 4;
        int d = 64;
        int n = bh * t * d;
        Storage[] io = new Storage[10];
        for (int i = 0; i < io.length; i++) {
            io[i] = metered.allocate(DType.FLOAT32, i == 4 ? bh * t : n);
        }
        long base = metered.current;
        metered.peak = base;
        float scale = 0.125f;
        if (fused) {
            backend.causalAttention(io[0], io[1], io[2], io[3], io[4], bh, t, d, scale);
            backend.causalAttentionBackward(io[0], io[1], io[2], io[3], io[4], io[5], io[6], io[7], io[8], bh, t, d, scale);
        } else {
            Compositions.causalAttention(metered, io[0], io[1], io[2], io[3], io[4], bh, t, d, scale);
            Compositions.causalAttentionBackward(metered, io[0], io[1], io[2], io[3], io[4], io[5], io[6], io[7], io[8],
                    bh, t, d, scale);
        }
        for (Storage s : io) {
            metered.release(s);
        }
        return metered.peak - base;
    }

    @Test
    void theFusedKernelNeedsNoScoreMatrix() {
        try (Backend cpu = Backends.registry().get("cpu").create(Options.of("threads", "2"))) {
            Map<Integer, long[]> peaks = new LinkedHashMap<>();
            for (int t : new int[] {256, 512, 1024, 2048}) {
                peaks.put(t, new long[] {peakWorkspace(cpu, true, t), t <= 1024 ? peakWorkspace(cpu, false, t) : -1});
            }
            // fused: no storage beyond its inputs and outputs at any length (the kernel keeps one block of scores
            // per thread); composition: at least the T×T probabilities of every head
            peaks.forEach((t, p) -> assertTrue(p[0] == 0, "fused kernel allocated " + p[0] + " elements at T=" + t));
            for (int t : new int[] {256, 512, 1024}) {
                assertTrue(peaks.get(t)[1] >= 4L * t * t, "composition at T=" + t + ": " + peaks.get(t)[1]);
            }
            assertTrue(peaks.get(1024)[1] >= 14 * peaks.get(256)[1], "the composition grows quadratically: " + peaks.get(256)[1]
                    + " → " + peaks.get(1024)[1]);
        }
    }
}
