package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.tokenizer.bpe.Tiktoken;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/**
 * A tiktoken rank file and its JSON sidecar (split pattern, special tokens) from anywhere: loaded and used, or one
 * {@link KilnException}. The input's first line is the sidecar, the rest the rank file.
 */
class TiktokenFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void anyRankFileIsLoadedOrRefusedWithAKilnException(byte[] input) {
        int newline = 0;
        while (newline < input.length && input[newline] != '\n') {
            newline++;
        }
        FuzzFiles.write("fuzz.json", Arrays.copyOf(input, newline));
        Path ranks = FuzzFiles.write("fuzz.tiktoken", Arrays.copyOfRange(input, Math.min(newline + 1, input.length),
                input.length));
        try {
            Tokenizer tokenizer = Tiktoken.load(ranks);
            int[] ids = tokenizer.encode("Hello, world! 123 \u00e9\u4e16", Set.of());
            tokenizer.decode(ids);
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
