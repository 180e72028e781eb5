package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.DelegatingBackend;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.ops.Attention;
import dev.kiln.api.ops.AttentionShape;
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
    static final class Metered extends DelegatingBackend {
        final Map<Storage, Integer> live = new java.util.IdentityHashMap<>();
        long current;
        long peak;

        Metered(Backend inner) {
            super(inner);
        }

        private Storage track(Storage s) {
            live.put(s, s.size());
            current += s.size();
            peak = Math.max(peak, current);
            return s;
        }

        @Override
        public Storage allocate(DType dtype, int size) {
            return track(delegate.allocate(dtype, size));
        }

        @Override
        public Storage allocateUninitialized(DType dtype, int size) {
            return track(delegate.allocateUninitialized(dtype, size));
        }

        @Override
        public Storage upload(float[] data) {
            return track(delegate.upload(data));
        }

        @Override
        public Storage upload(int[] data) {
            return track(delegate.upload(data));
        }

        @Override
        public void release(Storage s) {
            Integer size = live.remove(s);
            if (size != null) {
                current -= size;
            }
            delegate.release(s);
        }
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
        AttentionShape shape = AttentionShape.causal(1, bh, t, d);
        Attention.Kernel kernel = fused ? metered.kernels().find(Attention.OP) : Attention.OP.composition(metered);
        kernel.forward(io[0], io[1], io[2], io[3], io[4], shape);
        kernel.backward(io[0], io[1], io[2], io[3], io[4], io[5], io[6], io[7], io[8], shape);
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
