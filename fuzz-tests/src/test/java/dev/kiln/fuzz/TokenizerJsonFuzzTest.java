package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.tokenizer.bpe.HuggingFaceFiles;
import java.nio.file.Path;
import java.util.Set;

/**
 * A Hugging Face {@code tokenizer.json} from anywhere: loaded and then used (encode, decode every id it made), or one
 * {@link KilnException}.
 */
class TokenizerJsonFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void anyFileIsLoadedOrRefusedWithAKilnException(byte[] bytes) {
        Path file = FuzzFiles.write("tokenizer.json", bytes);
        try {
            Tokenizer tokenizer = HuggingFaceFiles.loadWithNormalizer(file);
            int[] ids = tokenizer.encode("Hello, world! 123 \u00e9\u4e16 <|endoftext|>", Set.copyOf(
                    tokenizer.specialTokens().keySet()));
            tokenizer.decode(ids);
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
