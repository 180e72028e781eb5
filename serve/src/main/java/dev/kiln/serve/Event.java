package dev.kiln.serve;

import java.util.List;

/** What the scheduler tells a request's handler about one of its sequences (a choice), in order. */
sealed interface Event {
    int choice();

    /** One token chosen: the text it releases (maybe empty) and, when asked for, its log-probability. */
    record Token(int choice, int id, String text, TokenLogprob logprob) implements Event {
    }

    /**
     * The prompt's tokens scored: one entry per prompt token, the first without a log-probability (nothing precedes
     * it), each later one given the tokens before it.
     */
    record PromptScores(int choice, List<Token> tokens) implements Event {
    }

    /** The sequence ended ({@code stop} or {@code length}); the counts are its usage. */
    record Finished(int choice, String reason, String rest, int promptTokens, int completionTokens)
            implements Event {
    }

    /** The sequence could not go on (shutdown, or a failure in the model step). */
    record Failed(int choice, ApiError error) implements Event {
    }

    /** A chosen token with its log-probability and the most likely alternatives at that position. */
    record TokenLogprob(int id, double logprob, List<Alternative> top) {
    }

    record Alternative(int id, double logprob) {
    }
}
