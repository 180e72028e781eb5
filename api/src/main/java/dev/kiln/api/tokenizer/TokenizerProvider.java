package dev.kiln.api.tokenizer;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;
import java.nio.file.Path;

/** A tokenizer plugin: {@code provides dev.kiln.api.tokenizer.TokenizerProvider with ...} in its module-info. */
public interface TokenizerProvider extends Provider {
    /** Loads a saved or published vocabulary; a corrupt file is an error naming the file and line. */
    Tokenizer load(Path file);

    /** Builds a vocabulary from a corpus; each provider documents its options and rejects unknown ones. */
    Tokenizer train(String corpus, Options options);
}
