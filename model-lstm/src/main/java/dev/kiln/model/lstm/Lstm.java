package dev.kiln.model.lstm;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.nn.Dropout;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.ops.LstmCell;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * A multi-layer LSTM with PyTorch's {@code nn.LSTM(batch_first=True)} parameters: {@code weight_ih_l{k}} (4H, in),
 * {@code weight_hh_l{k}} (4H, H), {@code bias_ih_l{k}}, {@code bias_hh_l{k}} (4H), gates in the order i, f, g, o.
 *
 * <p>Each layer is one differentiable operation with its own back-propagation through time, the way cuDNN does it: the
 * input projection of all time steps is one GEMM, only the recurrent GEMM and the fused cell run per step, and the
 * weight gradients of all steps are again single GEMMs. Buffers are time-major, so a step's gates, hidden and cell
 * states are contiguous blocks.
 */
public final class Lstm extends Module {
    private final int inputSize;
    private final int hiddenSize;
    private final int numLayers;
    private final Dropout dropout;

    public Lstm(Backend backend, int inputSize, int hiddenSize, int numLayers, float dropout, Generator generator) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.numLayers = numLayers;
        float bound = (float) (1.0 / Math.sqrt(hiddenSize));          // PyTorch: U(−1/√H, 1/√H) for every tensor
        for (int k = 0; k < numLayers; k++) {
            int in = k == 0 ? inputSize : hiddenSize;
            registerProjection("weight_ih_l" + k, Tensor.uniform(backend, -bound, bound, generator, 4 * hiddenSize, in),
                    WeightLayout.OUT_IN);
            registerProjection("weight_hh_l" + k,
                    Tensor.uniform(backend, -bound, bound, generator, 4 * hiddenSize, hiddenSize), WeightLayout.OUT_IN);
            registerParameter("bias_ih_l" + k, Tensor.uniform(backend, -bound, bound, generator, 4 * hiddenSize));
            registerParameter("bias_hh_l" + k, Tensor.uniform(backend, -bound, bound, generator, 4 * hiddenSize));
        }
        this.dropout = registerModule("dropout", new Dropout(dropout, generator));
    }

    public int numLayers() {
        return numLayers;
    }

    /** A zero state for a batch. */
    public LstmState zeroState(Backend backend, int batch) {
        List<Tensor> h = new ArrayList<>();
        List<Tensor> c = new ArrayList<>();
        for (int k = 0; k < numLayers; k++) {
            h.add(Tensor.zeros(backend, batch, hiddenSize));
            c.add(Tensor.zeros(backend, batch, hiddenSize));
        }
        return new LstmState(h, c);
    }

    /** The output of the last layer and the final state of every layer. */
    public record Output(Tensor output, LstmState state) {
    }

    /** x (B, T, input) → output (B, T, H); a null state starts from zeros. */
    public Output forward(Tensor x, LstmState state) {
        int[] shape = x.shape();
        if (shape.length != 3 || shape[2] != inputSize) {
            throw new KilnException("lstm: input must be (batch, time, " + inputSize + "), got " + java.util.Arrays.toString(shape));
        }
        LstmState initial = state != null ? state : zeroState(x.backend(), shape[0]);
        List<Tensor> hOut = new ArrayList<>();
        List<Tensor> cOut = new ArrayList<>();
        Tensor y = x;
        for (int k = 0; k < numLayers; k++) {
            if (k > 0) {
                y = dropout.forward(y);                                  // between layers only, as nn.LSTM
            }
            // the weights as adapted (W + a LoRA update when one is attached): the fused kernel takes whole matrices
            Tensor[] result = layer(y, weight("weight_ih_l" + k), weight("weight_hh_l" + k), parameter("bias_ih_l" + k),
                    parameter("bias_hh_l" + k), initial.h().get(k), initial.c().get(k));
            y = result[0];
            hOut.add(result[1]);
            cOut.add(result[2]);
        }
        return new Output(y, new LstmState(hOut, cOut));
    }

    /**
     * One layer over the whole sequence: returns {output (B, T, H), h_T, c_T}. Only the output is differentiable (with
     * respect to x and the four parameters); the initial and final states carry no gradient, as in truncated BPTT.
     */
    private Tensor[] layer(Tensor x, Tensor wIh, Tensor wHh, Tensor bIh, Tensor bHh, Tensor h0, Tensor c0) {
        Backend b = x.backend();
        int[] shape = x.shape();
        int batch = shape[0];
        int time = shape[1];
        int in = shape[2];
        int hidden = hiddenSize;
        int g4 = 4 * hidden;
        int rows = time * batch;
        // time-major copy of the input: xTm (T, B, in)
        Tensor xTm = floats(b, time, batch, in);
        b.copyStrided(x.storage(), 0, new int[] {time, batch, in}, new int[] {in, time * in, 1},
                xTm.storage(), 0, new int[] {batch * in, in, 1});
        // input projection of every step at once, plus both biases: gates (T·B, 4H)
        Tensor gates = floats(b, rows, g4);
        b.matmul(xTm.storage(), wIh.storage(), gates.storage(), new MatmulShape(1, rows, g4, in, false, true, 0, 0, false));
        Tensor bias = floats(b, g4);
        dense(b, BinaryOp.ADD, bIh.storage(), bHh.storage(), bias.storage(), g4);
        b.binary(BinaryOp.ADD, gates.storage(), new int[] {g4, 1}, bias.storage(), new int[] {0, 1}, gates.storage(),
                new int[] {rows, g4});
        // hs, cs (T + 1, B, H): slot 0 holds the initial state, slot t + 1 the state after step t
        Tensor hs = floats(b, time + 1, batch, hidden);
        Tensor cs = floats(b, time + 1, batch, hidden);
        Tensor activated = floats(b, rows, g4);
        copy(b, h0.storage(), 0, hs.storage(), 0, batch * hidden);
        copy(b, c0.storage(), 0, cs.storage(), 0, batch * hidden);
        // W_hhᵀ (H, 4H), once per sequence: the per-step product then reads it row by row without packing
        Tensor wHhT = floats(b, hidden, g4);
        b.copyStrided(wHh.storage(), 0, new int[] {hidden, g4}, new int[] {1, hidden}, wHhT.storage(), 0,
                new int[] {g4, 1});
        Tensor stepGates = floats(b, batch, g4);
        Tensor stepAct = floats(b, batch, g4);
        Tensor[] h = {floats(b, batch, hidden), floats(b, batch, hidden)};
        Tensor[] c = {floats(b, batch, hidden), floats(b, batch, hidden)};
        copy(b, h0.storage(), 0, h[0].storage(), 0, batch * hidden);
        copy(b, c0.storage(), 0, c[0].storage(), 0, batch * hidden);
        int state = batch * hidden;
        LstmCell.Kernel cell = LstmCell.OP.kernel(b);
        for (int t = 0; t < time; t++) {
            Tensor hPrev = h[t % 2];
            Tensor cPrev = c[t % 2];
            Tensor hNext = h[(t + 1) % 2];
            Tensor cNext = c[(t + 1) % 2];
            copy(b, gates.storage(), t * batch * g4, stepGates.storage(), 0, batch * g4);
            // gates_t += h_{t−1} · W_hhᵀ: the only GEMM inside the time loop
            b.matmul(hPrev.storage(), wHhT.storage(), stepGates.storage(),
                    new MatmulShape(1, batch, g4, hidden, false, false, 0, 0, true));
            cell.forward(stepGates.storage(), cPrev.storage(), hNext.storage(), cNext.storage(), stepAct.storage(),
                    batch, hidden);
            copy(b, hNext.storage(), 0, hs.storage(), (t + 1) * state, state);
            copy(b, cNext.storage(), 0, cs.storage(), (t + 1) * state, state);
            copy(b, stepAct.storage(), 0, activated.storage(), t * batch * g4, batch * g4);
        }
        // batch-first output (B, T, H) from hs[1 .. T]
        Storage output = b.allocate(DType.FLOAT32, batch * time * hidden);
        b.copyStrided(hs.storage(), state, new int[] {batch, time, hidden}, new int[] {hidden, state, 1},
                output, 0, new int[] {time * hidden, hidden, 1});
        Tensor hLast = floats(b, batch, hidden);
        Tensor cLast = floats(b, batch, hidden);
        copy(b, h[time % 2].storage(), 0, hLast.storage(), 0, state);
        copy(b, c[time % 2].storage(), 0, cLast.storage(), 0, state);
        Tensor y = Tensor.fromFunction("lstm", b, output, new int[] {batch, time, hidden},
                dy -> backward(b, dy, xTm, hs, cs, activated, wIh, wHh, batch, time, in, hidden), x, wIh, wHh, bIh, bHh);
        return new Tensor[] {y, hLast, cLast};
    }

    /** Back-propagation through time for one layer; returns the gradients of {x, W_ih, W_hh, b_ih, b_hh}. */
    private static Tensor[] backward(Backend b, Tensor dy, Tensor xTm, Tensor hs, Tensor cs, Tensor activated,
                                     Tensor wIh, Tensor wHh, int batch, int time, int in, int hidden) {
        int g4 = 4 * hidden;
        int rows = time * batch;
        int state = batch * hidden;
        Tensor dyTm = floats(b, time, batch, hidden);
        b.copyStrided(dy.storage(), 0, new int[] {time, batch, hidden}, new int[] {hidden, time * hidden, 1},
                dyTm.storage(), 0, new int[] {state, hidden, 1});
        Tensor dGates = floats(b, rows, g4);
        Tensor stepAct = floats(b, batch, g4);
        Tensor stepDGates = floats(b, batch, g4);
        Tensor cPrev = floats(b, batch, hidden);
        Tensor cNow = floats(b, batch, hidden);
        Tensor dh = floats(b, batch, hidden);
        Tensor dhNext = floats(b, batch, hidden);                          // from step t + 1 through W_hh
        Tensor dcNext = floats(b, batch, hidden);                          // reaching c_t from step t + 1
        Tensor dcPrev = floats(b, batch, hidden);                          // the cell's output: reaching c_{t−1}
        LstmCell.Kernel cell = LstmCell.OP.kernel(b);
        for (int t = time - 1; t >= 0; t--) {
            copy(b, dyTm.storage(), t * state, dh.storage(), 0, state);
            dense(b, BinaryOp.ADD, dh.storage(), dhNext.storage(), dh.storage(), state);
            copy(b, activated.storage(), t * batch * g4, stepAct.storage(), 0, batch * g4);
            copy(b, cs.storage(), t * state, cPrev.storage(), 0, state);
            copy(b, cs.storage(), (t + 1) * state, cNow.storage(), 0, state);
            cell.backward(stepAct.storage(), cPrev.storage(), cNow.storage(), dh.storage(), dcNext.storage(),
                    stepDGates.storage(), dcPrev.storage(), batch, hidden);
            copy(b, stepDGates.storage(), 0, dGates.storage(), t * batch * g4, batch * g4);
            // dh_{t−1} = dGates_t · W_hh
            b.matmul(stepDGates.storage(), wHh.storage(), dhNext.storage(),
                    new MatmulShape(1, batch, hidden, g4, false, false, 0, 0, false));
            Tensor swap = dcNext;
            dcNext = dcPrev;
            dcPrev = swap;
        }
        // weight gradients of all steps at once: dW_ih = dGatesᵀ·x, dW_hh = dGatesᵀ·h_{t−1}, db = Σ dGates
        Tensor dWih = floats(b, g4, in);
        b.matmul(dGates.storage(), xTm.storage(), dWih.storage(), new MatmulShape(1, g4, in, rows, true, false, 0, 0, false));
        Tensor dWhh = floats(b, g4, hidden);
        b.matmul(dGates.storage(), hs.storage(), dWhh.storage(),
                new MatmulShape(1, g4, hidden, rows, true, false, 0, 0, false));
        Tensor dBias = floats(b, g4);
        b.reduce(ReduceOp.SUM, dGates.storage(), 1, rows, g4, dBias.storage());
        // dx = dGates · W_ih, back to batch-first
        Tensor dxTm = floats(b, time, batch, in);
        b.matmul(dGates.storage(), wIh.storage(), dxTm.storage(), new MatmulShape(1, rows, in, g4, false, false, 0, 0, false));
        Tensor dx = floats(b, batch, time, in);
        b.copyStrided(dxTm.storage(), 0, new int[] {batch, time, in}, new int[] {in, batch * in, 1},
                dx.storage(), 0, new int[] {time * in, in, 1});
        return new Tensor[] {dx, dWih, dWhh, dBias, dBias};
    }

    private static Tensor floats(Backend b, int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return Tensor.fromStorage(b, b.allocate(DType.FLOAT32, n), shape);
    }

    private static void copy(Backend b, Storage from, int fromOffset, Storage to, int toOffset, int n) {
        b.copyStrided(from, fromOffset, new int[] {n}, new int[] {1}, to, toOffset, new int[] {1});
    }

    private static void dense(Backend b, BinaryOp op, Storage x, Storage y, Storage out, int n) {
        b.binary(op, x, new int[] {1}, y, new int[] {1}, out, new int[] {n});
    }
}
