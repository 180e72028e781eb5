package dev.kiln.tokenizer.bpe;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import java.util.Set;

/** Provider id {@code char}: one token per character seen in training; no options; loads what {@code save} wrote. */
public final class CharTokenizerProvider implements TokenizerProvider {
    public static final String ID = "char";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 1;
    }

    @Override
    public Tokenizer train(String corpus, Options options) {
        options.requireOnly(ID, Set.of());
        return CharTokenizer.train(corpus);
    }

    @Override
    public Tokenizer load(Path file) {
        return CharTokenizer.load(file);
    }
}
