package dev.kiln.serve;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.checkpoint.PeftDirectory;
import dev.kiln.trainer.data.PairEncoding;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * The one model a server answers for: its id (what requests name in {@code model}), the model in eval mode, its
 * tokenizer, when it was tuned on conversations its chat template, and for an encoder-decoder model how its task
 * encoded sources and targets (a completion's prompt is then the source). Closing frees the backend it was loaded on.
 */
public record ServedModel(String id, long created, LanguageModel model, Tokenizer tokenizer,
                          Optional<ChatTemplate> chatTemplate, Backend backend, Optional<PairEncoding> pairs)
        implements AutoCloseable {
    /** The token that ends a text, when the vocabulary has one: completions stop there. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    public ServedModel {
        model.eval();
        if ((model.kind() == ModelKind.ENCODER_DECODER) != pairs.isPresent()) {
            throw new KilnException("serve: an encoder-decoder model needs its pair encoding, and only such a model "
                    + "takes one (" + model.modelId() + ")");
        }
    }

    /** A decoder-only model. */
    public ServedModel(String id, long created, LanguageModel model, Tokenizer tokenizer,
                       Optional<ChatTemplate> chatTemplate, Backend backend) {
        this(id, created, model, tokenizer, chatTemplate, backend, Optional.empty());
    }

    /** A prompt's ids: an encoder-decoder model's source as its task encodes one, else the text, special tokens read. */
    int[] encodePrompt(String text) {
        return pairs.map(p -> p.source(text)).orElseGet(() -> tokenizer.encode(text,
                tokenizer.specialTokens().keySet()));
    }

    /** The tokens that end a completion: the target's EOS for an encoder-decoder model, else the end of text. */
    Set<Integer> stopTokens() {
        return pairs.map(p -> Set.of(p.eos())).orElseGet(() -> endOfText().map(Set::of).orElse(Set.of()));
    }

    /** The decoder the scheduler steps: the model's own slot decoder, or completions of a source. */
    SlotDecoder slotDecoder(int slots, int maxLength) {
        if (pairs.isPresent()) {
            PairEncoding p = pairs.get();
            return new Seq2SeqSlotDecoder((EncoderDecoderModel) model, backend, p.bos(), slots, p.maxSource(),
                    p.maxTarget());
        }
        return model.slotDecoder(slots, maxLength);
    }

    /** The most tokens one completion may have: an encoder-decoder model's longest target, as beam search allows. */
    int maxNewTokens() {
        return pairs.map(PairEncoding::maxTarget).orElse(Integer.MAX_VALUE);
    }

    /** Whether a prompt goes to the decoder in one step (a source is encoded whole) rather than in chunks. */
    boolean wholePrompt() {
        return pairs.isPresent();
    }

    /**
     * A Kiln checkpoint, a run directory (its best checkpoint) or a Hugging Face GPT-2 snapshot, with the PEFT adapter
     * directory {@code adapter} on it unless that is null; the id is the directory's name unless {@code modelId}
     * gives one.
     */
    public static ServedModel load(Plugins plugins, Path checkpointOrRun, Path adapter, String backendId,
                                   String modelId) {
        Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(checkpointOrRun, true));
        Tokenizer tokenizer = PeftDirectory.tokenizer(checkpoint, adapter,
                plugins.tokenizers().get(checkpoint.tokenizerId()));
        Optional<ChatTemplate> template = checkpoint.chatTemplate();
        Backend backend = plugins.backend(backendId, Options.defaults());
        try {
            LanguageModel model = checkpoint.loadModel(plugins.models().get(checkpoint.modelId()), backend,
                    new Generator(0));
            if (adapter != null) {
                PeftDirectory.apply(adapter, model);
            }
            checkpoint.checkVocabulary(tokenizer, model);
            Path name = checkpointOrRun.toAbsolutePath().normalize().getFileName();
            String id = modelId != null ? modelId : name == null ? "kiln" : name.toString();
            if (id.isBlank()) {
                throw new KilnException("serve: --model-id must not be blank");
            }
            Optional<PairEncoding> pairs = model.kind() == ModelKind.ENCODER_DECODER
                    ? Optional.of(PairEncoding.forExperiment(tokenizer, checkpoint.experiment())) : Optional.empty();
            return new ServedModel(id, System.currentTimeMillis() / 1000, model, tokenizer, template, backend, pairs);
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
