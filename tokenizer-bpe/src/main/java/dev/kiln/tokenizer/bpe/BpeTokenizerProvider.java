package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Availability;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;

/** Provider id {@code bpe}: byte-level BPE; loads tiktoken {@code .tiktoken} rank files (with their .json sidecar). */
public final class BpeTokenizerProvider implements TokenizerProvider {
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
    public Availability probe() {
        return Availability.yes();
    }

    @Override
    public Tokenizer load(Path file) {
        String name = file.getFileName().toString();
        if (name.endsWith(".tiktoken")) {
            return Tiktoken.load(file);
        }
        throw new KilnException("bpe: cannot load " + file + "; supported: tiktoken rank files (.tiktoken)");
    }
}
