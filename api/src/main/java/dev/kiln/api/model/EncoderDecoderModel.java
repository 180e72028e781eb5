package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.Tensor;

/**
 * A source-to-target model (PyTorch's {@code nn.Transformer(src, tgt)}): the encoder runs once per source batch, the
 * decoder attends to its memory. Training calls {@link #forward(ModelInputs)}; greedy and beam-search decoding call
 * {@link #encode} once and then step a {@link #decoder(EncodedSource)}.
 */
public abstract class EncoderDecoderModel extends LanguageModel {
    @Override
    public final ModelKind kind() {
        return ModelKind.ENCODER_DECODER;
    }

    /** sourceIds (B, S) right-padded to the given lengths → the memory and its lengths. */
    public abstract EncodedSource encode(Tensor sourceIds, int[] sourceLengths);

    /** Teacher-forced decoding: targetIds (B, T), right-padded to targetLengths → logits (B, T, vocab). */
    public abstract Tensor decode(EncodedSource source, Tensor targetIds, int[] targetLengths);

    /**
     * An incremental decoder over {@code source}'s rows: its self-attention keys and values are cached and its
     * projections of the memory computed once; {@link BeamDecoder#reorder} moves rows for beam search.
     */
    public abstract BeamDecoder decoder(EncodedSource source);

    @Override
    public Tensor forward(ModelInputs inputs) {
        EncodedSource source = encode(inputs.tensor(ModelInputs.SOURCE_IDS), inputs.lengths(ModelInputs.SOURCE_LENGTHS));
        return decode(source, inputs.tensor(ModelInputs.TARGET_IDS), inputs.lengths(ModelInputs.TARGET_LENGTHS));
    }

    @Override
    public Tensor forward(Tensor ids) {
        throw new KilnException(modelId() + " is an encoder-decoder model: it needs a source and a target, not one "
                + "sequence of ids (use the seq2seq task)");
    }

    @Override
    public Decoder decoder(int batch) {
        throw new KilnException(modelId() + " is an encoder-decoder model: decode from an encoded source "
                + "(EncoderDecoderModel.decoder(encode(...))), not from a prompt alone");
    }
}
