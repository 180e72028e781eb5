package dev.kiln.model.transformer;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.nn.Dropout;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.ModuleList;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.util.Map;

/**
 * A GPT-2 decoder, read aloud: token + position embeddings → N pre-LayerNorm blocks of causal multi-head
 * self-attention and a 4× MLP → final LayerNorm → an LM head tied to the token embedding. Parameter names and layout
 * are Hugging Face GPT-2's ({@code transformer.h.0.attn.c_attn.weight} stored [in, out]), so a GPT-2 checkpoint loads.
 */
public final class GptLanguageModel extends LanguageModel {
    private GptConfig config;                                      // its vocab_size grows with the vocabulary
    private final Transformer transformer;
    private final Tensor sinusoidal;                               // (n_positions, C) when positions are fixed

    public GptLanguageModel(Backend backend, GptConfig config, Generator generator) {
        this.config = config;
        this.transformer = registerModule("transformer", new Transformer(backend, config, generator));
        this.sinusoidal = config.positions().equals("sinusoidal") ? sinusoidalTable(backend, config) : null;
    }

    /** {@code transformer.*}: the embeddings, the blocks and the final norm, as in Hugging Face's GPT2Model. */
    static final class Transformer extends Module {
        final Embedding wte;
        final Embedding wpe;
        final Dropout drop;
        final ModuleList<Block> h = new ModuleList<>();
        final Norm lnF;

        Transformer(Backend backend, GptConfig c, Generator g) {
            wte = registerModule("wte", new Embedding(backend, c.vocabSize(), c.width(), g));
            wte.weight().copyFrom(Tensor.randn(backend, g, c.vocabSize(), c.width()).mul(0.02f));
            if (c.positions().equals("learned")) {
                wpe = registerModule("wpe", new Embedding(backend, c.contextLength(), c.width(), g));
                wpe.weight().copyFrom(Tensor.randn(backend, g, c.contextLength(), c.width()).mul(0.02f));
            } else {
                wpe = null;
            }
            drop = registerModule("drop", new Dropout(c.dropout(), g));
            registerModule("h", h);
            for (int i = 0; i < c.layers(); i++) {
                h.add(new Block(backend, c, g));
            }
            lnF = registerModule("ln_f", new Norm(backend, c));
        }
    }

    /** One pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
    static final class Block extends Module {
        final Norm ln1;
        final CausalSelfAttention attn;
        final Norm ln2;
        final Mlp mlp;

        Block(Backend backend, GptConfig c, Generator g) {
            ln1 = registerModule("ln_1", new Norm(backend, c));
            attn = registerModule("attn", new CausalSelfAttention(backend, c, g));
            ln2 = registerModule("ln_2", new Norm(backend, c));
            mlp = registerModule("mlp", new Mlp(backend, c, g));
        }

        Tensor forward(Tensor x, AttentionCache cache) {
            x = x.add(attn.forward(ln1.forward(x), cache));
            return x.add(mlp.forward(ln2.forward(x)));
        }
    }

    /** Multi-head causal self-attention through the backend's fused (online-softmax) kernel. */
    static final class CausalSelfAttention extends Module {
        final Conv1D cAttn;
        final Conv1D cProj;
        final Dropout residDropout;
        final int heads;

        CausalSelfAttention(Backend backend, GptConfig c, Generator g) {
            cAttn = registerModule("c_attn", new Conv1D(backend, c.width(), 3 * c.width(), c.bias(), 0.02f, g));
            // GPT-2: residual projections scaled by 1/√(2·layers)
            cProj = registerModule("c_proj", new Conv1D(backend, c.width(), c.width(), c.bias(),
                    (float) (0.02 / Math.sqrt(2.0 * c.layers())), g));
            residDropout = registerModule("resid_dropout", new Dropout(c.dropout(), g));
            heads = c.heads();
        }

        Tensor forward(Tensor x, AttentionCache cache) {
            int b = x.size(0);
            int t = x.size(1);
            int width = x.size(2);
            int d = width / heads;
            Tensor qkv = cAttn.forward(x);                                              // (B, T, 3C)
            Tensor q = qkv.slice(2, 0, width).reshape(b, t, heads, d).transpose(1, 2);  // (B, H, T, D)
            Tensor k = qkv.slice(2, width, 2 * width).reshape(b, t, heads, d).transpose(1, 2);
            Tensor v = qkv.slice(2, 2 * width, 3 * width).reshape(b, t, heads, d).transpose(1, 2);
            Tensor y = cache == null ? q.scaledDotProductAttention(k, v) : cache.attend(q, k, v);   // (B, H, T, D)
            y = y.transpose(1, 2).reshape(b, t, width);                                 // (B, T, C)
            return residDropout.forward(cProj.forward(y));
        }
    }

    /** The 4× feed-forward network. */
    static final class Mlp extends Module {
        final Conv1D cFc;
        final Conv1D cProj;
        final Dropout dropout;
        final boolean gelu;

        Mlp(Backend backend, GptConfig c, Generator g) {
            cFc = registerModule("c_fc", new Conv1D(backend, c.width(), 4 * c.width(), c.bias(), 0.02f, g));
            cProj = registerModule("c_proj", new Conv1D(backend, 4 * c.width(), c.width(), c.bias(),
                    (float) (0.02 / Math.sqrt(2.0 * c.layers())), g));
            dropout = registerModule("dropout", new Dropout(c.dropout(), g));
            gelu = c.activation().equals("gelu_new");
        }

        Tensor forward(Tensor x) {
            Tensor hidden = cFc.forward(x);                                             // (B, T, 4C)
            hidden = gelu ? hidden.gelu() : hidden.relu();
            return dropout.forward(cProj.forward(hidden));                              // (B, T, C)
        }
    }

    /** Hugging Face's Conv1D: y = x·W + b with W stored [in, out]; weights N(0, std²), biases 0. */
    static final class Conv1D extends Module {
        final Tensor bias;

        Conv1D(Backend backend, int in, int out, boolean bias, float std, Generator g) {
            registerProjection("weight", Tensor.randn(backend, g, in, out).mul(std), WeightLayout.IN_OUT);
            this.bias = bias ? registerParameter("bias", Tensor.zeros(backend, out)) : null;
        }

        Tensor forward(Tensor x) {
            Tensor y = project(x, "weight");                                            // x·W (+ a LoRA update)
            return bias == null ? y : y.add(bias);
        }
    }

    /**
     * LayerNorm with GPT-2's names ({@code weight}, {@code bias}); without biases the shift is a constant zero. With
     * {@code norm=rmsnorm}, RMSNorm: only {@code weight}.
     */
    static final class Norm extends Module {
        final Tensor weight;
        final Tensor bias;
        final float eps;
        final boolean rms;

        Norm(Backend backend, GptConfig c) {
            rms = c.norm().equals("rmsnorm");
            weight = registerParameter("weight", Tensor.ones(backend, c.width()));
            bias = rms ? null : c.bias() ? registerParameter("bias", Tensor.zeros(backend, c.width()))
                    : Tensor.zeros(backend, c.width());
            eps = c.layerNormEps();
        }

        Tensor forward(Tensor x) {
            return rms ? x.rmsNorm(weight, eps) : x.layerNorm(weight, bias, eps);
        }
    }

    private static Tensor sinusoidalTable(Backend backend, GptConfig c) {
        float[] table = new float[c.contextLength() * c.width()];
        for (int pos = 0; pos < c.contextLength(); pos++) {
            for (int i = 0; i < c.width(); i += 2) {
                double angle = pos / Math.pow(10000.0, (double) i / c.width());
                table[pos * c.width() + i] = (float) Math.sin(angle);
                if (i + 1 < c.width()) {
                    table[pos * c.width() + i + 1] = (float) Math.cos(angle);
                }
            }
        }
        return Tensor.of(backend, table, c.contextLength(), c.width());
    }

    public GptConfig config() {
        return config;
    }

    @Override
    public String modelId() {
        return GptModelProvider.ID;
    }

    @Override
    public int maxContext() {
        return config.contextLength();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public Options hyperparameters() {
        return config.toOptions();
    }

    /** Grows wte (and with it the tied head). */
    @Override
    public Map<String, String> growVocabulary(int newSize) {
        growRows(transformer.wte, "weight", newSize);
        config = new GptConfig(newSize, config.contextLength(), config.layers(), config.heads(), config.width(),
                config.dropout(), config.activation(), config.bias(), config.positions(), config.layerNormEps(),
                config.norm());
        return Map.of("transformer.wte", "weight");
    }

    @Override
    public Tensor forward(Tensor ids) {
        return forward(ids, null, 0);
    }

    /** ids (B, T) at positions [start, start + T) → logits (B, T, V), reading and extending a KV cache if given. */
    Tensor forward(Tensor ids, KvCache cache, int start) {
        int t = ids.size(1);
        if (start + t > config.contextLength()) {
            throw new KilnException("gpt: " + (start + t) + " positions exceed the context length "
                    + config.contextLength());
        }
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) {
            positions[i] = start + i;
        }
        Tensor x = embed(ids, Tensor.ofInts(ids.backend(), positions, t));                        // (B, T, C)
        x = blocks(x, cache == null ? layer -> null : cache::layer);
        return head(x);                                                                           // (B, T, V)
    }

    /** Token plus position embeddings of ids (B, T) at positions (T) or (B, T) → (B, T, C). */
    Tensor embed(Tensor ids, Tensor positions) {
        Tensor positional = transformer.wpe != null ? transformer.wpe.forward(positions) : sinusoidal.embedding(positions);
        return transformer.drop.forward(transformer.wte.forward(ids).add(positional));
    }

    /** Every block, each attending through the cache {@code caches} gives for its layer (null: none). */
    Tensor blocks(Tensor x, java.util.function.IntFunction<AttentionCache> caches) {
        for (int layer = 0; layer < config.layers(); layer++) {
            x = transformer.h.get(layer).forward(x, caches.apply(layer));
        }
        return x;
    }

    /** The final norm and the LM head tied to wte: (…, C) → (…, V). */
    Tensor head(Tensor x) {
        return transformer.lnF.forward(x).matmul(transformer.wte.table().mT());
    }

    @Override
    public SlotDecoder slotDecoder(int slots, int maxLength) {
        return new GptSlotDecoder(this, slots, Math.min(maxLength, config.contextLength()));
    }

    @Override
    public Decoder decoder(int batch) {
        KvCache cache = new KvCache(transformer.wte.weight().backend(), config, batch);
        return ids -> {
            Tensor logits = forward(ids, cache, cache.length());
            cache.advance(ids.size(1));
            return lastPosition(logits);                                                          // (B, V)
        };
    }
}
