package dev.kiln.cli;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.checkpoint.PeftDirectory;
import java.nio.file.Path;

/**
 * A checkpoint's model and tokenizer (with a PEFT adapter on it when {@code adapted}), loaded on a backend for
 * generation or evaluation; closing frees the backend.
 */
record LoadedModel(Checkpoint checkpoint, Tokenizer tokenizer, LanguageModel model, Backend backend, boolean adapted)
        implements AutoCloseable {

    /** A checkpoint directory, or a run directory (its best checkpoint), and a PEFT adapter directory or null. */
    static LoadedModel load(Plugins plugins, Path checkpointOrRun, String backendId, Path adapter) {
        Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(checkpointOrRun, true));
        Tokenizer tokenizer = PeftDirectory.tokenizer(checkpoint, adapter,
                plugins.tokenizers().get(checkpoint.tokenizerId()));
        Backend backend = plugins.backend(backendId, Options.defaults());
        try {
            LanguageModel model = checkpoint.loadModel(plugins.models().get(checkpoint.modelId()), backend,
                    new Generator(0));
            if (adapter != null) {
                PeftDirectory.apply(adapter, model);
            }
            checkpoint.checkVocabulary(tokenizer, model);
            return new LoadedModel(checkpoint, tokenizer, model, backend, adapter != null);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    @Override
    public void close() {
        backend.close();
    }

    /** {@code --checkpoint} and {@code --backend}, shared by the commands that use a trained model. */
    static final class Source {
        @picocli.CommandLine.Option(names = "--checkpoint", required = true, paramLabel = "DIR",
                description = "A checkpoint, or a run directory (its best checkpoint).")
        Path checkpoint;

        @picocli.CommandLine.Option(names = "--backend", paramLabel = "ID", defaultValue = "cpu")
        String backend;

        @picocli.CommandLine.Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter "
                + "directory (adapter_config.json, adapter_model.safetensors) to put on the checkpoint's model, as "
                + "PeftModel.from_pretrained(base, DIR) does.")
        Path adapter;

        LoadedModel load(Kiln kiln) {
            return LoadedModel.load(kiln.plugins(), checkpoint, backend, adapter);
        }
    }
}
