package dev.kiln.serve;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The one model a server answers for: its id (what requests name in {@code model}), the model in eval mode, its
 * tokenizer and, when it was tuned on conversations, its chat template. Closing frees the backend it was loaded on.
 */
public record ServedModel(String id, long created, LanguageModel model, Tokenizer tokenizer,
                          Optional<ChatTemplate> chatTemplate, Backend backend) implements AutoCloseable {
    /** The token that ends a text, when the vocabulary has one: completions stop there. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    public ServedModel {
        model.eval();
    }

    /**
     * A Kiln checkpoint, a run directory (its best checkpoint) or a Hugging Face GPT-2 snapshot; the id is the
     * directory's name unless {@code modelId} gives one.
     */
    public static ServedModel load(Plugins plugins, Path checkpointOrRun, String backendId, String modelId) {
        Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(checkpointOrRun, true));
        Tokenizer tokenizer = checkpoint.loadTokenizer(plugins.tokenizers().get(checkpoint.tokenizerId()));
        Optional<ChatTemplate> template = checkpoint.chatTemplate();
        Backend backend = plugins.backend(backendId, Options.defaults());
        try {
            LanguageModel model = checkpoint.loadModel(plugins.models().get(checkpoint.modelId()), backend,
                    new Generator(0));
            Path name = checkpointOrRun.toAbsolutePath().normalize().getFileName();
            String id = modelId != null ? modelId : name == null ? "kiln" : name.toString();
            if (id.isBlank()) {
                throw new KilnException("serve: --model-id must not be blank");
            }
            return new ServedModel(id, System.currentTimeMillis() / 1000, model, tokenizer, template, backend);
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    /** The end-of-text token's id, if the vocabulary has one. */
    public Optional<Integer> endOfText() {
        return Optional.ofNullable(tokenizer.specialTokens().get(END_OF_TEXT));
    }

    @Override
    public void close() {
        backend.close();
    }
}
