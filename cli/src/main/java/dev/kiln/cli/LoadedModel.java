package dev.kiln.cli;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import java.nio.file.Path;

/** A checkpoint's model and tokenizer, loaded on a backend for generation or evaluation; closing frees the backend. */
record LoadedModel(Checkpoint checkpoint, Tokenizer tokenizer, LanguageModel model, Backend backend)
        implements AutoCloseable {

    /** A checkpoint directory, or a run directory (its best checkpoint). */
    static LoadedModel load(Plugins plugins, Path checkpointOrRun, String backendId) {
        Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(checkpointOrRun, true));
        Tokenizer tokenizer = checkpoint.loadTokenizer(plugins.tokenizers().get(checkpoint.tokenizerId()));
        Backend backend = plugins.backend(backendId, Options.defaults());
        try {
            LanguageModel model = checkpoint.loadModel(plugins.models().get(checkpoint.modelId()), backend,
                    new Generator(0));
            checkpoint.checkVocabulary(tokenizer, model);
            return new LoadedModel(checkpoint, tokenizer, model, backend);
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

        LoadedModel load(Kiln kiln) {
            return LoadedModel.load(kiln.plugins(), checkpoint, backend);
        }
    }
}
