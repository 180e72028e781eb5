package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.cli.ConfigFiles;
import dev.kiln.trainer.ExperimentConfig;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * An experiment file (YAML or JSON, as {@code --config} reads it, and as a run's {@code config.json} is read back)
 * from anywhere: flattened and checked down to the train and data settings, or one {@link KilnException}. An input
 * starting with {@code y} is YAML, any other JSON; the file is what follows that first byte.
 */
class ExperimentConfigFuzzTest {
    @FuzzTest(maxDuration = "20s")
    void anyConfigIsCheckedOrRefusedWithAKilnException(byte[] input) {
        if (input.length == 0) {
            return;
        }
        String name = input[0] == 'y' ? "experiment.yaml" : "config.json";
        Path file = FuzzFiles.write(name, Arrays.copyOfRange(input, 1, input.length));
        try {
            ExperimentConfig config = ExperimentConfig.defaults().with(ConfigFiles.read(file));
            config.train();
            config.data();
            for (String section : ExperimentConfig.SECTIONS) {
                config.pluginOptions(section);
            }
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
