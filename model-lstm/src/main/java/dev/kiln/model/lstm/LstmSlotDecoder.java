package dev.kiln.model.lstm;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.DecoderSlots;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LSTM decoding for a ragged batch: each slot keeps its own h and c per layer, in (slots, H) buffers. A step runs the
 * rows that feed the same number of tokens as one batch (every row when each feeds its sampled token), gathering
 * their states, and writes the final states back to their slots.
 */
final class LstmSlotDecoder implements SlotDecoder {
    private final LstmLanguageModel model;
    private final Backend backend;
    private final DecoderSlots table;
    private final int hidden;
    private final Tensor[] h;
    private final Tensor[] c;

    LstmSlotDecoder(LstmLanguageModel model, Backend backend, int slots, int maxLength) {
        this.table = new DecoderSlots("lstm", slots, maxLength);
        this.model = model;
        this.backend = backend;
        this.hidden = model.config().hiddenSize();
        int layers = model.lstm().numLayers();
        this.h = new Tensor[layers];
        this.c = new Tensor[layers];
        for (int k = 0; k < layers; k++) {
            h[k] = Tensor.zeros(backend, slots, hidden);
            c[k] = Tensor.zeros(backend, slots, hidden);
        }
    }

    @Override
    public int capacity() {
        return table.capacity();
    }

    @Override
    public int maxLength() {
        return table.maxLength();
    }

    /** A free slot, its h and c zeroed. */
    @Override
    public int open() {
        int slot = table.open();
        for (int k = 0; k < h.length; k++) {
            clear(h[k], slot);
            clear(c[k], slot);
        }
        return slot;
    }

    private void clear(Tensor state, int slot) {
        Tensor zeros = Tensor.zeros(backend, hidden);
        backend.copyStrided(zeros.storage(), 0, new int[] {hidden}, new int[] {1}, state.storage(), slot * hidden,
                new int[] {1});
        backend.release(zeros.storage());
    }

    @Override
    public void release(int slot) {
        table.release(slot);
    }

    @Override
    public int length(int slot) {
        return table.length(slot);
    }

    @Override
    public Tensor step(int[] slots, int[][] tokens) {
        table.checkStep(slots, tokens);
        Map<Integer, List<Integer>> byLength = new LinkedHashMap<>();            // token count → rows
        for (int i = 0; i < slots.length; i++) {
            byLength.computeIfAbsent(tokens[i].length, n -> new ArrayList<>()).add(i);
        }
        try (var noGrad = GradMode.noGrad()) {
            List<Tensor> groupLogits = new ArrayList<>();
            int[] rowOfOutput = new int[slots.length];
            int next = 0;
            for (Map.Entry<Integer, List<Integer>> group : byLength.entrySet()) {
                int time = group.getKey();
                List<Integer> rows = group.getValue();
                int[] groupSlots = rows.stream().mapToInt(r -> slots[r]).toArray();
                int[] ids = new int[rows.size() * time];
                for (int g = 0; g < rows.size(); g++) {
                    System.arraycopy(tokens[rows.get(g)], 0, ids, g * time, time);
                    rowOfOutput[rows.get(g)] = next + g;
                }
                next += rows.size();
                Tensor slotIds = Tensor.ofInts(backend, groupSlots, groupSlots.length);
                List<Tensor> hs = new ArrayList<>();
                List<Tensor> cs = new ArrayList<>();
                for (int k = 0; k < h.length; k++) {
                    hs.add(h[k].embedding(slotIds));                                    // (n, H) of these slots
                    cs.add(c[k].embedding(slotIds));
                }
                LstmLanguageModel.Output out = model.forward(Tensor.ofInts(backend, ids, rows.size(), time),
                        new LstmState(hs, cs));
                for (int k = 0; k < h.length; k++) {
                    store(out.state().h().get(k), h[k], groupSlots);
                    store(out.state().c().get(k), c[k], groupSlots);
                }
                groupLogits.add(out.logits().select(1, time - 1));                      // (n, V)
            }
            table.advance(slots, tokens);
            Tensor all = groupLogits.size() == 1 ? groupLogits.getFirst() : Tensor.concat(groupLogits, 0);
            boolean inOrder = true;
            for (int i = 0; i < rowOfOutput.length; i++) {
                inOrder &= rowOfOutput[i] == i;
            }
            return inOrder ? all : all.embedding(Tensor.ofInts(backend, rowOfOutput, rowOfOutput.length));
        }
    }

    /** Row g of {@code state} (n, H) into slot {@code slots[g]} of {@code buffer} (slots, H). */
    private void store(Tensor state, Tensor buffer, int[] slots) {
        for (int g = 0; g < slots.length; g++) {
            backend.copyStrided(state.storage(), g * hidden, new int[] {hidden}, new int[] {1}, buffer.storage(),
                    slots[g] * hidden, new int[] {1});
        }
    }

    @Override
    public void close() {
        for (int k = 0; k < h.length; k++) {
            backend.release(h[k].storage());
            backend.release(c[k].storage());
        }
        table.releaseAll();
    }
}
