package dev.kiln.serve;

import java.util.List;
import java.util.Set;

/**
 * What one request asks of each of its sequences: sampling (temperature 0 is greedy; top-p and top-k restrict the
 * candidates), how many tokens at most, the stop strings (never part of the text), how many alternatives to report
 * with each token's log-probability ({@code -1}: none), the seed (null: a fresh one per request), and the tokens
 * that end the text (end of text, the chat template's end of turn), which count as generated but add no text, and
 * whether the prompt's own tokens are scored too (completions with {@code echo} and {@code logprobs}, the way
 * evaluation harnesses ask for log-likelihoods; {@code maxTokens} may then be 0).
 */
record GenerationParams(double temperature, double topP, int topK, int maxTokens, List<String> stop, int logprobs,
                        Long seed, Set<Integer> stopTokens, boolean promptLogprobs) {
    GenerationParams {
        stop = List.copyOf(stop);
        stopTokens = Set.copyOf(stopTokens);
    }

    boolean wantsLogprobs() {
        return logprobs >= 0;
    }
}
