package dev.kiln.model.seq2seq;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.BeamDecoder;
import dev.kiln.api.model.EncodedSource;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.nn.Dropout;
import dev.kiln.api.nn.Embedding;
import dev.kiln.api.nn.LayerNorm;
import dev.kiln.api.nn.Linear;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.ModuleList;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The seeds' encoder-decoder, read aloud: one {@code embedding} shared by source and target (plus positions, if any) →
 * {@code transformer}, PyTorch's {@code nn.Transformer} (an encoder of self-attention layers over the source, a decoder
 * of causal self-attention and cross-attention to the encoder's memory, each stack closed by its own LayerNorm) →
 * {@code fc} to the vocabulary. Parameter names and layouts are PyTorch's ({@code in_proj_weight} holds q, k and v
 * stacked as (3C, C)), so a {@code state_dict} of the seed's model saved as safetensors loads as it is.
 *
 * <p>Sequences are batch-major and right-padded; lengths mask padded keys in every attention (PyTorch's source,
 * target and memory key-padding masks), and the target's self-attention is causal.
 */
public final class Seq2SeqTransformer extends EncoderDecoderModel {
    private Seq2SeqConfig config;                                   // its vocab_size grows with the vocabulary
    final Embedding embedding;
    private final Embedding positionTable;                         // positions=learned: (max_len, C)
    private final Tensor sinusoidal;                               // positions=sinusoidal: (max_len, C), fixed
    private final Dropout positionDropout;
    final Transformer transformer;
    final Linear fc;

    public Seq2SeqTransformer(Backend backend, Seq2SeqConfig config, Generator generator) {
        this.config = config;
        this.embedding = registerModule("embedding", new Embedding(backend, config.vocabSize(), config.width(), generator));
        this.positionTable = config.positions().equals("learned")
                ? registerModule("pos_embedding", new Embedding(backend, config.maxLength(), config.width(), generator))
                : null;
        this.sinusoidal = config.positions().equals("sinusoidal") ? sinusoidalTable(backend, config) : null;
        this.positionDropout = registerModule("pos_dropout", new Dropout(config.dropout(), generator));
        this.transformer = registerModule("transformer", new Transformer(backend, config, generator));
        this.fc = registerModule("fc", new Linear(backend, config.width(), config.vocabSize(), true, generator));
    }

    /** {@code transformer.encoder} and {@code transformer.decoder}, with nn.Transformer's Xavier-uniform matrices. */
    static final class Transformer extends Module {
        final Stack<EncoderLayer> encoder;
        final Stack<DecoderLayer> decoder;

        Transformer(Backend backend, Seq2SeqConfig c, Generator g) {
            encoder = registerModule("encoder", new Stack<>(backend, c));
            for (int i = 0; i < c.encoderLayers(); i++) {
                encoder.layers.add(new EncoderLayer(backend, c, g));
            }
            decoder = registerModule("decoder", new Stack<>(backend, c));
            for (int i = 0; i < c.decoderLayers(); i++) {
                decoder.layers.add(new DecoderLayer(backend, c, g));
            }
            // nn.Transformer._reset_parameters: every parameter with more than one dimension
            namedParameters().values().stream().filter(p -> p.dim() > 1).forEach(p -> xavierUniform(p, g));
        }
    }

    /** {@code layers.N} and the stack's final {@code norm}. */
    static final class Stack<L extends Module> extends Module {
        final ModuleList<L> layers = new ModuleList<>();
        final LayerNorm norm;

        Stack(Backend backend, Seq2SeqConfig c) {
            registerModule("layers", layers);
            norm = registerModule("norm", new LayerNorm(backend, c.width(), c.layerNormEps()));
        }
    }

    /** nn.TransformerEncoderLayer: self-attention then the feed-forward network, each a residual with its norm. */
    static final class EncoderLayer extends Module {
        final MultiheadAttention selfAttn;
        final FeedForward feedForward;
        final LayerNorm norm1;
        final LayerNorm norm2;
        final Dropout dropout1;
        final Dropout dropout2;
        final boolean normFirst;

        EncoderLayer(Backend backend, Seq2SeqConfig c, Generator g) {
            selfAttn = registerModule("self_attn", new MultiheadAttention(backend, c, g));
            feedForward = new FeedForward(registerModule("linear1", new Linear(backend, c.width(), c.feedForward(), true, g)),
                    registerModule("dropout", new Dropout(c.dropout(), g)),
                    registerModule("linear2", new Linear(backend, c.feedForward(), c.width(), true, g)), c);
            norm1 = registerModule("norm1", new LayerNorm(backend, c.width(), c.layerNormEps()));
            norm2 = registerModule("norm2", new LayerNorm(backend, c.width(), c.layerNormEps()));
            dropout1 = registerModule("dropout1", new Dropout(c.dropout(), g));
            dropout2 = registerModule("dropout2", new Dropout(c.dropout(), g));
            normFirst = c.normFirst();
        }

        /** x (B, S, C) → (B, S, C); padded source keys are masked by {@code shape}. */
        Tensor forward(Tensor x, AttentionShape shape) {
            if (normFirst) {
                x = x.add(dropout1.forward(selfAttn.selfAttention(norm1.forward(x), shape)));
                return x.add(dropout2.forward(feedForward.forward(norm2.forward(x))));
            }
            x = norm1.forward(x.add(dropout1.forward(selfAttn.selfAttention(x, shape))));
            return norm2.forward(x.add(dropout2.forward(feedForward.forward(x))));
        }
    }

    /**
     * nn.TransformerDecoderLayer: causal self-attention, cross-attention to the memory, the feed-forward network. The
     * self-attention's keys and values come through {@code self} (teacher forcing attends to the whole target, a
     * decoding cache stores and reuses them); the memory's keys and values come projected.
     */
    static final class DecoderLayer extends Module {
        final MultiheadAttention selfAttn;
        final MultiheadAttention multiheadAttn;
        final FeedForward feedForward;
        final LayerNorm norm1;
        final LayerNorm norm2;
        final LayerNorm norm3;
        final Dropout dropout1;
        final Dropout dropout2;
        final Dropout dropout3;
        final boolean normFirst;

        DecoderLayer(Backend backend, Seq2SeqConfig c, Generator g) {
            selfAttn = registerModule("self_attn", new MultiheadAttention(backend, c, g));
            multiheadAttn = registerModule("multihead_attn", new MultiheadAttention(backend, c, g));
            feedForward = new FeedForward(registerModule("linear1", new Linear(backend, c.width(), c.feedForward(), true, g)),
                    registerModule("dropout", new Dropout(c.dropout(), g)),
                    registerModule("linear2", new Linear(backend, c.feedForward(), c.width(), true, g)), c);
            norm1 = registerModule("norm1", new LayerNorm(backend, c.width(), c.layerNormEps()));
            norm2 = registerModule("norm2", new LayerNorm(backend, c.width(), c.layerNormEps()));
            norm3 = registerModule("norm3", new LayerNorm(backend, c.width(), c.layerNormEps()));
            dropout1 = registerModule("dropout1", new Dropout(c.dropout(), g));
            dropout2 = registerModule("dropout2", new Dropout(c.dropout(), g));
            dropout3 = registerModule("dropout3", new Dropout(c.dropout(), g));
            normFirst = c.normFirst();
        }

        /** x (B, T, C) → (B, T, C), attending to memory keys and values (B, H, S, D) under {@code crossShape}. */
        Tensor forward(Tensor x, SelfAttention self, Tensor memoryKeys, Tensor memoryValues, AttentionShape crossShape) {
            if (normFirst) {
                x = x.add(dropout1.forward(selfAttn.selfAttention(norm1.forward(x), self)));
                x = x.add(dropout2.forward(multiheadAttn.crossAttention(norm2.forward(x), memoryKeys, memoryValues,
                        crossShape)));
                return x.add(dropout3.forward(feedForward.forward(norm3.forward(x))));
            }
            x = norm1.forward(x.add(dropout1.forward(selfAttn.selfAttention(x, self))));
            x = norm2.forward(x.add(dropout2.forward(multiheadAttn.crossAttention(x, memoryKeys, memoryValues,
                    crossShape))));
            return norm3.forward(x.add(dropout3.forward(feedForward.forward(x))));
        }
    }

    /** How a decoder layer's self-attention finds keys and values for its queries, all (B, H, t, D). */
    @FunctionalInterface
    interface SelfAttention {
        Tensor attend(MultiheadAttention attention, Tensor q, Tensor k, Tensor v);
    }

    /** linear2(dropout(activation(linear1(x)))); its layers belong to the encoder or decoder layer, as in PyTorch. */
    record FeedForward(Linear linear1, Dropout dropout, Linear linear2, boolean gelu) {
        FeedForward(Linear linear1, Dropout dropout, Linear linear2, Seq2SeqConfig c) {
            this(linear1, dropout, linear2, c.activation().equals("gelu"));
        }

        Tensor forward(Tensor x) {
            Tensor hidden = linear1.forward(x);                                            // (B, T, F)
            hidden = gelu ? hidden.geluExact() : hidden.relu();
            return linear2.forward(dropout.forward(hidden));                               // (B, T, C)
        }
    }

    /**
     * nn.MultiheadAttention with q, k and v projected by one stacked {@code in_proj_weight} (3C, C) and
     * {@code in_proj_bias}, then {@code out_proj}. Attention runs through the backend's fused kernel; with dropout
     * in training, the attention probabilities are dropped as PyTorch does, through the composition.
     */
    static final class MultiheadAttention extends Module {
        final Tensor inProjWeight;
        final Tensor inProjBias;
        final Linear outProj;
        final int heads;
        final int width;
        final float dropout;
        final Generator generator;

        MultiheadAttention(Backend backend, Seq2SeqConfig c, Generator g) {
            width = c.width();
            heads = c.heads();
            inProjWeight = registerProjection("in_proj_weight", Tensor.zeros(backend, 3 * width, width), WeightLayout.OUT_IN);
            inProjBias = registerParameter("in_proj_bias", Tensor.zeros(backend, 3 * width));
            outProj = registerModule("out_proj", new Linear(backend, width, width, true, g));
            outProj.bias().copyFrom(new float[width]);                  // nn.MultiheadAttention: out_proj.bias = 0
            dropout = c.dropout();
            generator = g;
        }

        /** Self-attention over x (B, T, C) masked by {@code shape}. */
        Tensor selfAttention(Tensor x, AttentionShape shape) {
            return selfAttention(x, (attention, q, k, v) -> attention.attend(q, k, v, shape));
        }

        /** Self-attention over x (B, T, C), keys and values found by {@code self}. */
        Tensor selfAttention(Tensor x, SelfAttention self) {
            int b = x.size(0);
            int t = x.size(1);
            Tensor qkv = project(x, "in_proj_weight").add(inProjBias);                     // (B, T, 3C)
            Tensor q = heads(qkv.slice(2, 0, width), b, t);                               // (B, H, T, D)
            Tensor k = heads(qkv.slice(2, width, 2 * width), b, t);
            Tensor v = heads(qkv.slice(2, 2 * width, 3 * width), b, t);
            return merge(self.attend(this, q, k, v), b, t);
        }

        /** Cross-attention of x (B, T, C) to projected memory keys and values (B, H, S, D). */
        Tensor crossAttention(Tensor x, Tensor keys, Tensor values, AttentionShape shape) {
            int b = x.size(0);
            int t = x.size(1);
            Tensor q = heads(project(x, "in_proj_weight", 0, width).add(inProjBias.slice(0, 0, width)), b, t);
            return merge(attend(q, keys, values, shape), b, t);
        }

        /** The memory (B, S, C) projected to keys and values (B, H, S, D) once, for every decoder step. */
        Tensor[] memoryKeysValues(Tensor memory) {
            int b = memory.size(0);
            int s = memory.size(1);
            Tensor kv = project(memory, "in_proj_weight", width, 3 * width)
                    .add(inProjBias.slice(0, width, 3 * width));                          // (B, S, 2C)
            return new Tensor[] {heads(kv.slice(2, 0, width), b, s), heads(kv.slice(2, width, 2 * width), b, s)};
        }

        /** Scaled-dot-product attention of (B, H, Tq, D) queries against (B, H, Tk, D) keys and values. */
        Tensor attend(Tensor q, Tensor k, Tensor v, AttentionShape shape) {
            if (dropout == 0f || !isTraining()) {
                return q.scaledDotProductAttention(k, v, shape);
            }
            Tensor scores = q.matmul(k.mT()).mul(shape.scale());                          // (B, H, Tq, Tk)
            Tensor weights = scores.maskedFill(hiddenKeys(q.backend(), shape), Float.NEGATIVE_INFINITY).softmax(-1);
            return weights.dropout(dropout, true, generator).matmul(v);                   // (B, H, Tq, D)
        }

        private Tensor heads(Tensor x, int b, int t) {
            return x.reshape(b, t, heads, width / heads).transpose(1, 2);                 // (B, T, C) → (B, H, T, D)
        }

        private Tensor merge(Tensor y, int b, int t) {
            return outProj.forward(y.transpose(1, 2).reshape(b, t, width));               // (B, H, T, D) → (B, T, C)
        }

        /** 1 where query i of row b may not see key j under {@code shape}: (B, H, Tq, Tk). */
        private static Tensor hiddenKeys(Backend backend, AttentionShape shape) {
            int tq = shape.queries();
            int tk = shape.keys();
            float[] mask = new float[shape.batch() * shape.heads() * tq * tk];
            for (int b = 0; b < shape.batch(); b++) {
                for (int i = 0; i < tq; i++) {
                    int visible = shape.visibleKeys(b, i);
                    for (int h = 0; h < shape.heads(); h++) {
                        int row = ((b * shape.heads() + h) * tq + i) * tk;
                        Arrays.fill(mask, row + visible, row + tk, 1f);
                    }
                }
            }
            return Tensor.of(backend, mask, shape.batch(), shape.heads(), tq, tk);
        }
    }

    /** PyTorch's xavier_uniform_: U(±√(6 / (fan_in + fan_out))) for a (fan_out, fan_in) matrix. */
    private static void xavierUniform(Tensor p, Generator g) {
        int fanOut = p.size(0);
        int fanIn = p.numel() / fanOut;
        float bound = (float) Math.sqrt(6.0 / (fanIn + fanOut));
        p.copyFrom(Tensor.uniform(p.backend(), -bound, bound, g, p.shape()));
    }

    private static Tensor sinusoidalTable(Backend backend, Seq2SeqConfig c) {
        int width = c.width();
        float[] table = new float[c.maxLength() * width];
        for (int pos = 0; pos < c.maxLength(); pos++) {
            for (int i = 0; i < width; i += 2) {
                double angle = pos * Math.exp(i * (-Math.log(10000.0) / width));
                table[pos * width + i] = (float) Math.sin(angle);
                if (i + 1 < width) {
                    table[pos * width + i + 1] = (float) Math.cos(angle);
                }
            }
        }
        return Tensor.of(backend, table, c.maxLength(), width);
    }

    public Seq2SeqConfig config() {
        return config;
    }

    @Override
    public String modelId() {
        return Seq2SeqModelProvider.ID;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public Options hyperparameters() {
        return config.toOptions();
    }

    /** Grows the shared embedding and fc (weight and bias). */
    @Override
    public Map<String, String> growVocabulary(int newSize) {
        growRows(embedding, "weight", newSize);
        growRows(fc, "weight", newSize);
        growRows(fc, "bias", newSize);
        Seq2SeqConfig c = config;
        config = new Seq2SeqConfig(newSize, c.width(), c.heads(), c.encoderLayers(), c.decoderLayers(), c.feedForward(),
                c.dropout(), c.activation(), c.normFirst(), c.layerNormEps(), c.positions(), c.maxLength());
        Map<String, String> grown = new LinkedHashMap<>();
        grown.put("embedding", "weight");
        grown.put("fc", "weight");
        return grown;
    }

    /** Sources and targets longer than the position table cannot be embedded; without positions, any length. */
    @Override
    public int maxContext() {
        return config.positions().equals("none") ? Integer.MAX_VALUE : config.maxLength();
    }

    /** ids (B, T) at positions [start, start + T) → (B, T, C): the shared embedding plus the positions, if any. */
    Tensor embed(Tensor ids, int start) {
        int t = ids.size(1);
        Tensor x = embedding.forward(ids);                                                // (B, T, C)
        if (config.positions().equals("none")) {
            return x;
        }
        if (start + t > config.maxLength()) {
            throw new KilnException("seq2seq: position " + (start + t - 1) + " is past the position table (max_len "
                    + config.maxLength() + "); raise model.max_len or shorten the sequences");
        }
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) {
            positions[i] = start + i;
        }
        Tensor at = Tensor.ofInts(ids.backend(), positions, t);
        Tensor positioned = positionTable != null ? x.add(positionTable.forward(at))
                : x.mul((float) Math.sqrt(config.width())).add(sinusoidal.embedding(at));
        return positionDropout.forward(positioned);
    }

    @Override
    public EncodedSource encode(Tensor sourceIds, int[] sourceLengths) {
        int b = sourceIds.size(0);
        int s = sourceIds.size(1);
        int[] lengths = lengthsOrFull(sourceLengths, b, s, "source");
        AttentionShape shape = new AttentionShape(b, config.heads(), s, s, config.headSize(),
                AttentionShape.defaultScale(config.headSize()), false, new int[b], lengths);
        Tensor x = embed(sourceIds, 0);                                                   // (B, S, C)
        for (EncoderLayer layer : transformer.encoder.layers) {
            x = layer.forward(x, shape);
        }
        return new EncodedSource(transformer.encoder.norm.forward(x), lengths);           // memory (B, S, C)
    }

    @Override
    public Tensor decode(EncodedSource source, Tensor targetIds, int[] targetLengths) {
        int b = targetIds.size(0);
        int t = targetIds.size(1);
        Tensor memory = source.memory();
        if (memory.size(0) != b) {
            throw new KilnException("seq2seq: " + memory.size(0) + " encoded sources for " + b + " targets");
        }
        int d = config.headSize();
        float scale = AttentionShape.defaultScale(d);
        AttentionShape selfShape = new AttentionShape(b, config.heads(), t, t, d, scale, true, new int[b],
                lengthsOrFull(targetLengths, b, t, "target"));
        AttentionShape crossShape = new AttentionShape(b, config.heads(), t, memory.size(1), d, scale, false,
                new int[b], source.lengths());
        Tensor x = embed(targetIds, 0);                                                   // (B, T, C)
        for (DecoderLayer layer : transformer.decoder.layers) {
            Tensor[] kv = layer.multiheadAttn.memoryKeysValues(memory);                   // 2 × (B, H, S, D)
            x = layer.forward(x, (attention, q, k, v) -> attention.attend(q, k, v, selfShape), kv[0], kv[1],
                    crossShape);
        }
        return head(x);                                                                   // (B, T, V)
    }

    /** The decoder's final norm and fc: (…, C) → (…, V). */
    Tensor head(Tensor x) {
        return fc.forward(transformer.decoder.norm.forward(x));
    }

    @Override
    public BeamDecoder decoder(EncodedSource source) {
        return new Seq2SeqDecoder(this, source);
    }

    private static int[] lengthsOrFull(int[] lengths, int batch, int time, String what) {
        if (lengths == null) {
            int[] full = new int[batch];
            Arrays.fill(full, time);
            return full;
        }
        if (lengths.length != batch) {
            throw new KilnException("seq2seq: " + lengths.length + " " + what + " lengths for a batch of " + batch);
        }
        for (int length : lengths) {
            if (length < 1 || length > time) {
                throw new KilnException("seq2seq: a " + what + " length of " + length + " in a batch padded to "
                        + time + " (each must be in [1, " + time + "])");
            }
        }
        return lengths;
    }
}
