package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A tokenizer behind a {@link Normalizer}: text is normalized, then encoded; decoding is the inner tokenizer's. */
public final class NormalizingTokenizer implements Tokenizer {
    private final Tokenizer inner;
    private final Normalizer normalizer;

    public NormalizingTokenizer(Tokenizer inner, Normalizer normalizer) {
        this.inner = inner;
        this.normalizer = normalizer;
    }

    public Normalizer normalizer() {
        return normalizer;
    }

    @Override
    public String id() {
        return inner.id();
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return inner.specialTokens();
    }

    @Override
    public int[] encode(String text, Set<String> allowedSpecial) {
        return inner.encode(normalizer.apply(text), allowedSpecial);
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        return inner.decodeBytes(ids);
    }

    /** Writes tokenizer.json with the normalizer steps in it, so that loading normalizes the same way. */
    @Override
    public void save(Path file) {
        if (!(inner instanceof BpeTokenizer bpe)) {
            throw new KilnException("cannot save a normalizing " + inner.id() + " tokenizer: only byte-level BPE "
                    + "keeps its normalizer in tokenizer.json");
        }
        HuggingFaceFiles.writeTokenizerJson(bpe, normalizer, file);
    }

    @Override
    public Tokenizer withSpecialTokens(List<String> tokens) {
        Tokenizer grown = inner.withSpecialTokens(tokens);
        return grown == inner ? this : new NormalizingTokenizer(grown, normalizer);
    }
}
