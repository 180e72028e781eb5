package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.data.TokenStream;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A run's data as tasks see it: the corpus's records split by count, and its token stream, built and cached only when
 * a task first asks for it (an instruction or seq2seq task never tokenizes the corpus as one text).
 */
final class RunData implements TaskData {
    private final Corpus corpus;
    private final double valFraction;
    private final Tokenizer tokenizer;
    private final Supplier<TokenStream> streamLoader;
    private TokenStream stream;
    private List<TextRecord> records;

    private final Consumer<String> notes;

    RunData(Corpus corpus, double valFraction, Tokenizer tokenizer, Supplier<TokenStream> streamLoader,
            Consumer<String> notes) {
        this.notes = notes;
        this.corpus = corpus;
        this.valFraction = valFraction;
        this.tokenizer = tokenizer;
        this.streamLoader = streamLoader;
    }

    @Override
    public String name() {
        return corpus.name();
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public List<TextRecord> records(Split split) {
        if (records == null) {
            records = corpus.lines();
            if (records.size() < 2) {
                throw new KilnException("corpus " + corpus.name() + " has " + records.size() + " non-blank line(s); "
                        + "a task that reads records needs at least two (one to train on, one to validate)");
            }
        }
        return Corpus.split(records, valFraction, split);
    }

    @Override
    public TokenSequence tokens(Split split) {
        return stream().tokens(split);
    }

    /** The token stream, loaded (or built and cached) on first use. */
    TokenStream stream() {
        if (stream == null) {
            stream = streamLoader.get();
        }
        return stream;
    }

    @Override
    public void note(String message) {
        notes.accept(message);
    }

    /** Whether a task asked for the token stream. */
    boolean tokenized() {
        return stream != null;
    }
}
