package dev.kiln.api.ops;

import static dev.kiln.api.ops.Scratch.elementwise;
import static dev.kiln.api.ops.Scratch.scalarWith;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.FusedOperation;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import java.util.List;

/** One LSTM step from pre-activation gates, PyTorch's gate order (i, f, g, o). */
public final class LstmCell extends FusedOperation<LstmCell.Kernel> {
    public static final LstmCell OP = new LstmCell();

    public interface Kernel {
        /**
         * From gates (batch, 4·hidden) and cPrev (batch, hidden): c = σ(f)·cPrev + σ(i)·tanh(g), h = σ(o)·tanh(c); also
         * writes the activated gates (σ(i), σ(f), tanh(g), σ(o)), same layout as gates, for the backward pass.
         */
        void forward(Storage gates, Storage cPrev, Storage h, Storage c, Storage activated, int batch, int hidden);

        /** From the gradients reaching h and c, overwrites dGates (pre-activation) and dCPrev. */
        void backward(Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc, Storage dGates,
                      Storage dCPrev, int batch, int hidden);
    }

    private LstmCell() {
        super("lstm_cell", Kernel.class);
    }

    /** Copies columns [gate·hidden, (gate+1)·hidden) of a (batch, 4·hidden) matrix into a dense (batch, hidden) one. */
    private static void takeGate(Backend b, Storage gates, int gate, Storage out, int batch, int hidden) {
        b.copyStrided(gates, gate * hidden, new int[] {batch, hidden}, new int[] {4 * hidden, 1}, out, 0,
                new int[] {hidden, 1});
    }

    private static void putGate(Backend b, Storage part, int gate, Storage gates, int batch, int hidden) {
        b.copyStrided(part, 0, new int[] {batch, hidden}, new int[] {hidden, 1}, gates, gate * hidden,
                new int[] {4 * hidden, 1});
    }

    @Override
    public Kernel composition(Backend b) {
        return new Kernel() {
            @Override
            public void forward(Storage gates, Storage cPrev, Storage h, Storage c, Storage activated, int batch,
                                int hidden) {
                try (Scratch t = new Scratch(b)) {
                    int n = batch * hidden;
                    Storage[] act = new Storage[4];
                    for (int gate = 0; gate < 4; gate++) {
                        act[gate] = t.floats(n);
                        takeGate(b, gates, gate, act[gate], batch, hidden);
                        b.unary(gate == 2 ? UnaryOp.TANH : UnaryOp.SIGMOID, act[gate], act[gate]);
                        putGate(b, act[gate], gate, activated, batch, hidden);
                    }
                    Storage scratch = t.floats(n);
                    elementwise(b, BinaryOp.MUL, act[1], cPrev, c);              // σ(f)·cPrev
                    elementwise(b, BinaryOp.MUL, act[0], act[2], scratch);       // σ(i)·tanh(g)
                    elementwise(b, BinaryOp.ADD, c, scratch, c);
                    b.unary(UnaryOp.TANH, c, scratch);
                    elementwise(b, BinaryOp.MUL, act[3], scratch, h);            // σ(o)·tanh(c)
                }
            }

            @Override
            public void backward(Storage activated, Storage cPrev, Storage c, Storage dh, Storage dc, Storage dGates,
                                 Storage dCPrev, int batch, int hidden) {
                try (Scratch t = new Scratch(b)) {
                    int n = batch * hidden;
                    Storage[] act = new Storage[4];
                    for (int gate = 0; gate < 4; gate++) {
                        act[gate] = t.floats(n);
                        takeGate(b, activated, gate, act[gate], batch, hidden);
                    }
                    Storage one = t.scalar(1f);
                    Storage tanhC = t.floats(n);
                    Storage dcTotal = t.floats(n);
                    Storage scratch = t.floats(n);
                    Storage part = t.floats(n);
                    b.unary(UnaryOp.TANH, c, tanhC);
                    // dcTotal = dc + dh·o·(1 − tanh²c)
                    elementwise(b, BinaryOp.MUL, tanhC, tanhC, scratch);
                    scalarWith(b, BinaryOp.SUB, one, scratch, scratch);
                    elementwise(b, BinaryOp.MUL, scratch, act[3], scratch);
                    elementwise(b, BinaryOp.MUL, scratch, dh, scratch);
                    elementwise(b, BinaryOp.ADD, scratch, dc, dcTotal);
                    // d(o) = dh·tanh(c)·o·(1 − o); d(i) = dcTotal·g·i·(1 − i); d(f) = dcTotal·cPrev·f·(1 − f);
                    // d(g) = dcTotal·i·(1 − g²)
                    Storage[] upstream = {act[2], cPrev, act[0], null};
                    for (int gate = 0; gate < 4; gate++) {
                        if (gate == 3) {
                            elementwise(b, BinaryOp.MUL, dh, tanhC, part);
                        } else {
                            elementwise(b, BinaryOp.MUL, dcTotal, upstream[gate], part);
                        }
                        Storage y = act[gate];
                        if (gate == 2) {                                                            // 1 − g²
                            elementwise(b, BinaryOp.MUL, y, y, scratch);
                            scalarWith(b, BinaryOp.SUB, one, scratch, scratch);
                        } else {                                                                    // y·(1 − y)
                            scalarWith(b, BinaryOp.SUB, one, y, scratch);
                            elementwise(b, BinaryOp.MUL, scratch, y, scratch);
                        }
                        elementwise(b, BinaryOp.MUL, part, scratch, part);
                        putGate(b, part, gate, dGates, batch, hidden);
                    }
                    elementwise(b, BinaryOp.MUL, dcTotal, act[1], dCPrev);                       // dcPrev = dcTotal·f
                }
            }
        };
    }

    @Override
    public List<float[]> sample(Backend backend, Kernel kernel) {
        try (Scratch t = new Scratch(backend)) {
            int batch = 3;
            int hidden = 13;
            int n = batch * hidden;
            Storage cPrev = t.random(20, n, -1, 1);
            Storage h = t.floats(n);
            Storage c = t.floats(n);
            Storage activated = t.floats(4 * n);
            Storage dGates = t.floats(4 * n);
            Storage dCPrev = t.floats(n);
            kernel.forward(t.random(19, 4 * n, -3, 3), cPrev, h, c, activated, batch, hidden);
            kernel.backward(activated, cPrev, c, t.random(21, n, -1, 1), t.random(22, n, -1, 1), dGates, dCPrev, batch,
                    hidden);
            return List.of(t.read(h), t.read(c), t.read(activated), t.read(dGates), t.read(dCPrev));
        }
    }
}
