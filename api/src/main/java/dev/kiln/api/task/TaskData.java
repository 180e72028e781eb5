package dev.kiln.api.task;

import dev.kiln.api.tokenizer.Tokenizer;
import java.util.List;

/**
 * What the trainer hands a task: the corpus it read and checked (UTF-8 text files), split into training and
 * validation, as records or as cached token streams, and the run's tokenizer. A task needs nothing but the api.
 */
public interface TaskData {
    /** The corpus's name (a file or folder name), for messages. */
    String name();

    Tokenizer tokenizer();

    /**
     * The non-blank lines of every file, in order; the last {@code data.val_fraction} of them (at least one) form the
     * validation split.
     */
    List<TextRecord> records(Split split);

    /**
     * The split's whole text tokenized once and cached by the trainer (keyed by corpus, split and tokenizer), so a
     * resumed run or a second run reuses it; the text split falls at {@code data.val_fraction} of the characters.
     */
    TokenSequence tokens(Split split);

    /** A line for the run's log (what the task made of the data: examples kept, cut, dropped). */
    default void note(String message) {
    }
}
