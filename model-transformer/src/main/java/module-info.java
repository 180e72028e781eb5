/**
 * The Transformer models: a GPT-2-compatible decoder-only model (provider id {@code gpt}) and the seeds'
 * encoder-decoder {@code nn.Transformer} (provider id {@code seq2seq}).
 */
module dev.kiln.model.transformer {
    requires dev.kiln.api;

    exports dev.kiln.model.transformer;
    exports dev.kiln.model.seq2seq;

    provides dev.kiln.api.model.ModelProvider with dev.kiln.model.transformer.GptModelProvider,
            dev.kiln.model.seq2seq.Seq2SeqModelProvider;
}
