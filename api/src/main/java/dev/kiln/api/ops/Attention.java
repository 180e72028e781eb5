package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.rowwise;
import static dev.kiln.api.ops.Scratch.withScalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/**
 * Scaled-dot-product attention, the one attention of Kiln: out = softmax(q·kᵀ·scale + mask)·v with the mask of an
 * {@link AttentionShape} (causal or not, per-row query offsets and key lengths). Encoder self-attention, decoder
 * cross-attention, causal training, cached decoding and ragged server batches are all this operation.
 *
 * <p>Kernels should not hold a whole queries × keys score matrix per head (online softmax, FlashAttention's idea);
 * this composition does, as the definition they are checked against.
 */
public final class Attention extends FusedOperation<Attention.Kernel> {
    public static final Attention OP = new Attention();

    public interface Kernel {
        /**
         * Writes out (batchHeads, queries, headDim) and, for the backward pass, each query row's log-sum-exp of its
         * scaled, masked scores in lse (batchHeads·queries; −∞ for a query that sees no key).
         */
        void forward(Storage q, Storage k, Storage v, Storage out, Storage lse, AttentionShape shape);

        /** Overwrites dq, dk and dv. */
        void backward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                      Storage dq, Storage dk, Storage dv, AttentionShape shape);
    }

    private Attention() {
        super("attention", Kernel.class);
    }

    /** The additive mask (batchHeads, queries, keys): 0 where visible, −∞ elsewhere; all 0 on rows that see nothing. */
    private static float[] mask(AttentionShape s, float[] alive, float[] deadLse) {
        int tq = s.queries();
        int tk = s.keys();
        float[] mask = new float[s.batchHeads() * tq * tk];
        for (int head = 0; head < s.batchHeads(); head++) {
            int row = head / s.heads();
            for (int i = 0; i < tq; i++) {
                int visible = s.visibleKeys(row, i);
                int r = head * tq + i;
                alive[r] = visible > 0 ? 1f : 0f;
                deadLse[r] = visible > 0 ? 0f : Float.NEGATIVE_INFINITY;
                if (visible > 0) {
                    java.util.Arrays.fill(mask, r * tk + visible, (r + 1) * tk, Float.NEGATIVE_INFINITY);
                }
            }
        }
        return mask;
    }

    /** P = softmax(q·kᵀ·scale + mask) with dead rows zeroed, into probabilities; returns nothing else it needs. */
    private static void probabilities(Backend b, Scratch t, Storage q, Storage k, AttentionShape s,
                                      Storage probabilities, Storage rowMax, Storage rowSum, Storage alive) {
        int bh = s.batchHeads();
        int tq = s.queries();
        int tk = s.keys();
        int d = s.headDim();
        int rows = bh * tq;
        float[] aliveRows = new float[rows];
        float[] deadLse = new float[rows];
        Storage mask = t.upload(mask(s, aliveRows, deadLse));
        b.copyStrided(t.upload(aliveRows), 0, new int[] {rows}, new int[] {1}, alive, 0, new int[] {1});
        b.matmul(q, k, probabilities, new MatmulShape(bh, tq, tk, d, false, true, tq * d, tk * d, false));
        withScalar(b, BinaryOp.MUL, probabilities, t.scalar(s.scale()), probabilities);
        elementwise(b, BinaryOp.ADD, probabilities, mask, probabilities);
        b.reduce(ReduceOp.MAX, probabilities, rows, tk, 1, rowMax);
        rowwise(b, BinaryOp.SUB, probabilities, rowMax, probabilities, rows, tk);
        b.unary(UnaryOp.EXP, probabilities, probabilities);
        b.reduce(ReduceOp.SUM, probabilities, rows, tk, 1, rowSum);
        rowwise(b, BinaryOp.DIV, probabilities, rowSum, probabilities, rows, tk);
        rowwise(b, BinaryOp.MUL, probabilities, alive, probabilities, rows, tk);
        // rowSum becomes the log-sum-exp, −∞ on dead rows
        b.unary(UnaryOp.LOG, rowSum, rowSum);
        elementwise(b, BinaryOp.ADD, rowSum, rowMax, rowSum);
        elementwise(b, BinaryOp.ADD, rowSum, t.upload(deadLse), rowSum);
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage q, Storage k, Storage v, Storage out, Storage lse, AttentionShape s) {
                try (Scratch t = new Scratch(b)) {
                    int rows = s.batchHeads() * s.queries();
                    Storage p = t.floats(rows * s.keys());
                    probabilities(b, t, q, k, s, p, t.floats(rows), lse, t.floats(rows));
                    b.matmul(p, v, out, new MatmulShape(s.batchHeads(), s.queries(), s.headDim(), s.keys(), false,
                            false, s.queries() * s.keys(), s.keys() * s.headDim(), false));
                }
            }

            @Override
            public void backward(Storage q, Storage k, Storage v, Storage out, Storage lse, Storage dout,
                                 Storage dq, Storage dk, Storage dv, AttentionShape s) {
                try (Scratch t = new Scratch(b)) {
                    int bh = s.batchHeads();
                    int tq = s.queries();
                    int tk = s.keys();
                    int d = s.headDim();
                    int rows = bh * tq;
                    Storage p = t.floats(rows * tk);
                    Storage gradScores = t.floats(rows * tk);
                    Storage rowDot = t.floats(rows);
                    Storage scratch = t.floats(rows * d);
                    probabilities(b, t, q, k, s, p, t.floats(rows), t.floats(rows), t.floats(rows));
                    // dv = Pᵀ·dout ; dP = dout·vᵀ ; dS = P ⊙ (dP − rowsum(dout ⊙ out)) · scale
                    b.matmul(p, dout, dv, new MatmulShape(bh, tk, d, tq, true, false, tq * tk, tq * d, false));
                    b.matmul(dout, v, gradScores, new MatmulShape(bh, tq, tk, d, false, true, tq * d, tk * d, false));
                    elementwise(b, BinaryOp.MUL, dout, out, scratch);
                    b.reduce(ReduceOp.SUM, scratch, rows, d, 1, rowDot);
                    rowwise(b, BinaryOp.SUB, gradScores, rowDot, gradScores, rows, tk);
                    elementwise(b, BinaryOp.MUL, gradScores, p, gradScores);
                    withScalar(b, BinaryOp.MUL, gradScores, t.scalar(s.scale()), gradScores);
                    b.matmul(gradScores, k, dq, new MatmulShape(bh, tq, d, tk, false, false, tq * tk, tk * d, false));
                    b.matmul(gradScores, q, dk, new MatmulShape(bh, tk, d, tq, true, false, tq * tk, tq * d, false));
                }
            }
        };
    }

    /** The geometries the conformance kit compares kernels on: Tq ≠ Tk, offsets, padding, a row that sees nothing. */
    public static List<AttentionShape> sampleShapes() {
        return List.of(
                AttentionShape.causal(2, 3, 7, 5),
                AttentionShape.full(1, 2, 3, 9, 8),
                new AttentionShape(3, 2, 4, 11, 6, 0.3f, true, new int[] {7, 0, 2}, new int[] {11, 3, 5}),
                new AttentionShape(2, 1, 5, 6, 16, 0.25f, false, new int[] {0, 0}, new int[] {6, 1}),
                new AttentionShape(2, 2, 3, 4, 4, 0.5f, false, new int[] {0, 0}, new int[] {0, 4}),
                new AttentionShape(1, 1, 70, 70, 3, 0.6f, true, new int[] {0}, new int[] {70}),
                // several query and key blocks, a head that is not a whole number of vectors, offsets and lengths
                AttentionShape.causal(1, 2, 130, 24),
                new AttentionShape(2, 2, 45, 133, 24, 0.2f, true, new int[] {60, 0}, new int[] {133, 70}),
                new AttentionShape(1, 3, 33, 77, 40, 0.15f, false, new int[] {0}, new int[] {77}));
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        List<float[]> outputs = new java.util.ArrayList<>();
        long seed = 30;
        for (AttentionShape s : sampleShapes()) {
            try (Scratch t = new Scratch(backend)) {
                int qn = s.batchHeads() * s.queries() * s.headDim();
                int kn = s.batchHeads() * s.keys() * s.headDim();
                Storage q = t.random(seed++, qn, -1, 1);
                Storage k = t.random(seed++, kn, -1, 1);
                Storage v = t.random(seed++, kn, -1, 1);
                Storage out = t.floats(qn);
                Storage lse = t.floats(s.batchHeads() * s.queries());
                Storage dq = t.floats(qn);
                Storage dk = t.floats(kn);
                Storage dv = t.floats(kn);
                kernel.forward(q, k, v, out, lse, s);
                kernel.backward(q, k, v, out, lse, t.random(seed++, qn, -1, 1), dq, dk, dv, s);
                outputs.addAll(List.of(t.read(out), t.read(lse), t.read(dq), t.read(dk), t.read(dv)));
            }
        }
        return outputs;
    }
}
