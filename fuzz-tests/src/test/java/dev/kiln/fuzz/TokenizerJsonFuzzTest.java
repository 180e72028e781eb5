package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.tokenizer.bpe.CharTokenizer;
import dev.kiln.tokenizer.bpe.HuggingFaceFiles;
import java.nio.file.Path;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A {@code tokenizer.json} (Hugging Face's, or Kiln's char tokenizer) from anywhere: loaded and then used (encode, decode every id it made), or one
 * {@link KilnException}.
 */
class TokenizerJsonFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void anyFileIsLoadedOrRefusedWithAKilnException(byte[] bytes) {
        Path file = FuzzFiles.write("tokenizer.json", bytes);
        use(() -> HuggingFaceFiles.loadWithNormalizer(file));
        use(() -> CharTokenizer.load(file));
    }

    private static void use(Supplier<Tokenizer> load) {
        try {
            Tokenizer tokenizer = load.get();
            int[] ids = tokenizer.encode("Hello, world! 123 \u00e9\u4e16 <|endoftext|>", Set.copyOf(
                    tokenizer.specialTokens().keySet()));
            tokenizer.decode(ids);
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
