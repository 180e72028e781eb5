package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.api.task.TextRecord;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.data.InstructionExample;
import dev.kiln.trainer.data.TextPair;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The JSONL (and TSV) data formats from anywhere: every line read as an instruction example (Alpaca, chat,
 * prompt/completion) or as a source/target pair, or one {@link KilnException}. The input's first byte picks the
 * format: {@code i} instruction JSONL, {@code p} paired JSONL, anything else paired TSV.
 */
class DataRecordsFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void anyDataFileIsReadOrRefusedWithAKilnException(byte[] input) {
        if (input.length == 0) {
            return;
        }
        boolean instructions = input[0] == 'i';
        String name = instructions || input[0] == 'p' ? "data.jsonl" : "pairs.tsv";
        Path file = FuzzFiles.write(name, Arrays.copyOfRange(input, 1, input.length));
        try {
            for (TextRecord record : Corpus.read(file).lines()) {
                if (instructions) {
                    InstructionExample.parse(record);
                } else {
                    TextPair.parse(record, "source", "target");
                }
            }
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
