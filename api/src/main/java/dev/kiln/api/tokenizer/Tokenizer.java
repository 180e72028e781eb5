package dev.kiln.api.tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Text ↔ token ids. Byte-level tokenizers are lossless: {@code decode(encode(s)).equals(s)} for every string without
 * lone surrogates (which become U+FFFD, as in tiktoken), and any byte sequence survives {@link #decodeBytes}.
 */
public interface Tokenizer {
    /** The provider id that made this tokenizer, e.g. {@code bpe}. */
    String id();

    int vocabSize();

    /** Special tokens by their text, e.g. {@code <|endoftext|>} → 50256. */
    Map<String, Integer> specialTokens();

    /** Encodes text with no special tokens: a special token's text is encoded as ordinary text. */
    default int[] encode(String text) {
        return encode(text, Set.of());
    }

    /** Encodes text, turning the allowed special tokens' texts into their ids; others stay ordinary text. */
    int[] encode(String text, Set<String> allowedSpecial);

    byte[] decodeBytes(int[] ids);

    /**
     * Writes this tokenizer to one file that its provider's {@link TokenizerProvider#load} reads back identically
     * (byte-level BPE writes a Hugging Face {@code tokenizer.json}): what a checkpoint keeps beside the weights.
     */
    void save(Path file);

    /**
     * This vocabulary with {@code tokens} added as special tokens where it lacks them, at the next free ids in the
     * order given (existing ones keep their ids); this tokenizer itself is unchanged. A model trained on the old
     * vocabulary grows to the new size ({@code LanguageModel.growVocabulary}). By default a tokenizer cannot.
     */
    default Tokenizer withSpecialTokens(List<String> tokens) {
        if (specialTokens().keySet().containsAll(tokens)) {
            return this;
        }
        throw new dev.kiln.api.KilnException("tokenizer " + id() + " cannot add special tokens " + tokens);
    }

    /** Encodes many documents in parallel (ordinary encoding); the result keeps the input order. */
    default List<int[]> encodeBatch(List<String> texts) {
        return texts.parallelStream().map(this::encode).toList();
    }

    /** Decodes to a string; byte sequences that are not valid UTF-8 become U+FFFD. */
    default String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }
}
