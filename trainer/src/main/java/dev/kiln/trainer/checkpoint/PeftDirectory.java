package dev.kiln.trainer.checkpoint;

import dev.kiln.api.KilnException;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A PEFT LoRA adapter directory ({@code adapter_config.json}, {@code adapter_model.safetensors}, and when it added
 * tokens its own {@code tokenizer.json}) put on a loaded base model, as {@code PeftModel.from_pretrained(base, dir)}
 * does — for adapters trained by PEFT on a Hugging Face snapshot, or by Kiln.
 */
public final class PeftDirectory {
    private PeftDirectory() {
    }

    /**
     * The tokenizer of {@code checkpoint} with the adapter {@code directory} on it (null: none): the adapter's own
     * when the directory has one (it may add tokens), else the checkpoint's. A LoRA checkpoint takes no second
     * adapter.
     */
    public static Tokenizer tokenizer(Checkpoint checkpoint, Path directory, TokenizerProvider provider) {
        if (directory != null && checkpoint.isAdapter()) {
            throw new KilnException("checkpoint " + checkpoint.directory() + " is a LoRA checkpoint already; merge it "
                    + "into its base first (kiln merge) to put another adapter on it");
        }
        Path own = directory == null ? null : directory.resolve(Checkpoint.TOKENIZER);
        return own != null && Files.isRegularFile(own) ? provider.load(own) : checkpoint.loadTokenizer(provider);
    }

    /** Attaches the adapter's LoRA matrices (and trainable token rows) to {@code model}, whose weights it then adapts. */
    public static void apply(Path directory, LanguageModel model) {
        if (!Files.isDirectory(directory)) {
            throw new KilnException("--adapter " + directory + " is not a directory (a PEFT adapter directory holds "
                    + PeftAdapter.CONFIG + " and " + PeftAdapter.WEIGHTS + ")");
        }
        PeftAdapter.read(directory).attach(model, new Generator(0));
        model.train(false);
    }
}
