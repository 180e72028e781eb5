package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.trainer.checkpoint.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kiln merge}: folds a LoRA checkpoint's adapter into its base and writes an ordinary checkpoint. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Fold a LoRA checkpoint's adapter into its base weights (PEFT's "
        + "merge_and_unload) and write an ordinary checkpoint.")
final class MergeCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write the merged "
            + "checkpoint (must not exist).")
    Path out;

    @Override
    public Integer call() {
        if (Files.exists(out)) {
            throw new KilnException("--out " + out + " already exists; choose a new directory (nothing is overwritten)");
        }
        try (LoadedModel loaded = model.load(kiln)) {
            if (!loaded.checkpoint().isAdapter() && !loaded.adapted()) {
                throw new KilnException("checkpoint " + loaded.checkpoint().directory() + " holds full weights, not a "
                        + "LoRA adapter: there is nothing to merge (name a PEFT adapter with --adapter DIR)");
            }
            long before = loaded.model().namedAdapterParameters().size();
            loaded.model().mergeAdapters();
            Map<String, String> experiment = new LinkedHashMap<>(loaded.checkpoint().experiment());
            experiment.put("train.lora.r", "0");
            Checkpoint.write(out, loaded.model(), loaded.tokenizer(), experiment, null,
                    loaded.checkpoint().chatTemplate().orElse(null), null);
            kiln.out.printf("merged %d adapter tensors of %s into %s (base %s)%n", before,
                    loaded.adapted() ? model.adapter : loaded.checkpoint().directory(), out,
                    loaded.adapted() ? loaded.checkpoint().directory() : loaded.checkpoint().base().orElseThrow());
        }
        return 0;
    }
}
