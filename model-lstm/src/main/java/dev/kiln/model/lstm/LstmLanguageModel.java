package dev.kiln.model.lstm;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.nn.Linear;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The seed's language model: {@code embedding → lstm → fc}, with PyTorch's parameter names ({@code embedding.weight},
 * {@code lstm.weight_ih_l0} …, {@code fc.weight}, {@code fc.bias}), so a PyTorch {@code state_dict} saved as
 * safetensors loads as it is.
 */
public final class LstmLanguageModel extends LanguageModel {
    private LstmConfig config;                              // its vocab_size grows with the vocabulary
    private final Embedding embedding;
    private final Lstm lstm;
    private final OutputLayer fc;

    /** {@code fc}: y = x·Wᵀ + b with W (vocab, hidden); with tied weights W is the embedding matrix itself. */
    static final class OutputLayer extends Module {
        private final Embedding tied;

        OutputLayer(Backend backend, LstmConfig config, Embedding tied, Generator generator) {
            Linear initial = new Linear(backend, config.hiddenSize(), config.vocabSize(), true, generator);
            this.tied = tied;
            if (tied == null) {
                registerProjection("weight", initial.weight(), WeightLayout.OUT_IN);
            } else {
                registerParameter("weight", tied.weight());
            }
            registerParameter("bias", initial.bias());
        }

        Tensor forward(Tensor x) {
            Tensor logits = tied != null ? x.matmul(tied.table().mT()) : project(x, "weight");
            return logits.add(weight("bias"));                                           // (B, T, H) → (B, T, V)
        }
    }

    public LstmLanguageModel(Backend backend, LstmConfig config, Generator generator) {
        this.config = config;
        this.embedding = registerModule("embedding", new Embedding(backend, config.vocabSize(), config.embedSize(), generator));
        this.lstm = registerModule("lstm", new Lstm(backend, config.embedSize(), config.hiddenSize(), config.numLayers(),
                config.dropout(), generator));
        this.fc = registerModule("fc", new OutputLayer(backend, config,
                config.tieWeights() ? embedding : null, generator));
    }

    public LstmConfig config() {
        return config;
    }

    public Lstm lstm() {
        return lstm;
    }

    @Override
    public String modelId() {
        return LstmModelProvider.ID;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public Options hyperparameters() {
        return config.toOptions();
    }

    /** Grows the embedding and fc (weight and bias; with tied weights fc keeps sharing the embedding's table). */
    @Override
    public Map<String, String> growVocabulary(int newSize) {
        growRows(embedding, "weight", newSize);
        growRows(fc, "bias", newSize);
        Map<String, String> grown = new LinkedHashMap<>();
        grown.put("embedding", "weight");
        if (config.tieWeights()) {
            fc.replaceParameter("weight", embedding.weight());
        } else {
            growRows(fc, "weight", newSize);
            grown.put("fc", "weight");
        }
        config = new LstmConfig(newSize, config.embedSize(), config.hiddenSize(), config.numLayers(), config.dropout(),
                config.tieWeights());
        return grown;
    }

    /** The logits and the final recurrent state. */
    public record Output(Tensor logits, LstmState state) {
    }

    /** ids (B, T) → logits (B, T, vocab), starting from {@code state} (null: zeros) and returning the final state. */
    public Output forward(Tensor ids, LstmState state) {
        Tensor x = embedding.forward(ids);                         // (B, T, E)
        Lstm.Output recurrent = lstm.forward(x, state);            // (B, T, H)
        Tensor logits = fc.forward(recurrent.output());            // (B, T, V)
        return new Output(logits, recurrent.state());
    }

    @Override
    public Tensor forward(Tensor ids) {
        return forward(ids, null).logits();
    }

    /** Independent sequences in slots, each with its own recurrent state, for continuous batching. */
    @Override
    public SlotDecoder slotDecoder(int slots, int maxLength) {
        return new LstmSlotDecoder(this, embedding.weight().backend(), slots, maxLength);
    }

    /**
     * The state lives in buffers made with the decoder (in the scope open at that time) and is copied into after each
     * call, so a per-token scope may free everything else a step made.
     */
    @Override
    public Decoder decoder(int batch) {
        LstmState state = lstm.zeroState(embedding.weight().backend(), batch);
        return ids -> {
            Output out = forward(ids, state);
            for (int k = 0; k < lstm.numLayers(); k++) {
                state.h().get(k).copyFrom(out.state().h().get(k));
                state.c().get(k).copyFrom(out.state().c().get(k));
            }
            return lastPosition(out.logits());                     // (B, V)
        };
    }
}
