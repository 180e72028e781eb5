package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Provider id {@code bpe}: byte-level BPE. Loads tiktoken {@code .tiktoken} rank files (with their .json sidecar),
 * GPT-2's {@code encoder.json} + {@code vocab.bpe} and Hugging Face {@code tokenizer.json};
 * trains with the options {@code vocab_size} (at least 256; default 4096), {@code pattern} ({@code gpt2}, {@code cl100k},
 * {@code o200k}, {@code none}, or a regular expression; default cl100k), {@code special} (comma-separated special
 * tokens, numbered after the merges) and {@code normalize} (e.g. {@code nfkc,lowercase}; default none).
 */
public final class BpeTokenizerProvider implements TokenizerProvider {
    /** The vocabulary size when none is given (gpt-mini's). */
    public static final int DEFAULT_VOCAB_SIZE = 4096;

    public static final String ID = "bpe";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Tokenizer train(String corpus, Options options) {
        options.requireOnly(ID, Set.of("vocab_size", "pattern", "special", "normalize"));
        List<String> special = Arrays.stream(options.string("special", "").split(","))
                .map(String::trim).filter(name -> !name.isEmpty()).toList();
        Normalizer normalizer = Normalizer.parse(options.string("normalize", ""));
        BpeTokenizer trained = BpeTrainer.train(normalizer.apply(corpus), options.intOption("vocab_size", DEFAULT_VOCAB_SIZE),
                SplitPatterns.named(options.string("pattern", "cl100k")), special).tokenizer();
        return normalizer.steps().isEmpty() ? trained : new NormalizingTokenizer(trained, normalizer);
    }

    @Override
    public Tokenizer load(Path file) {
        String name = file.getFileName().toString();
        if (name.endsWith(".tiktoken")) {
            return Tiktoken.load(file);
        }
        if (name.equals("encoder.json")) {
            return HuggingFaceFiles.loadGpt2(file, file.resolveSibling("vocab.bpe"));
        }
        if (name.endsWith(".json")) {
            return HuggingFaceFiles.loadWithNormalizer(file);
        }
        throw new KilnException("bpe: cannot load " + file + "; supported: tiktoken rank files (.tiktoken), GPT-2's "
                + "encoder.json (with vocab.bpe beside it) and Hugging Face tokenizer.json");
    }
}
