/** Byte-level BPE tokenizers: tiktoken rank files, exact encoding and decoding. Provider id {@code bpe}. */
module dev.kiln.tokenizer.bpe {
    requires dev.kiln.api;

    exports dev.kiln.tokenizer.bpe;

    provides dev.kiln.api.tokenizer.TokenizerProvider with dev.kiln.tokenizer.bpe.BpeTokenizerProvider,
            dev.kiln.tokenizer.bpe.CharTokenizerProvider;
}
