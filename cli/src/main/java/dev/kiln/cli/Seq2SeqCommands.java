package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.trainer.data.PairEncoding;

/** What {@code kiln generate} and {@code kiln eval} share for a seq2seq checkpoint: its encoding and the search. */
final class Seq2SeqCommands {
    private Seq2SeqCommands() {
    }

    static EncoderDecoderModel model(LoadedModel loaded) {
        return (EncoderDecoderModel) loaded.model();
    }

    static PairEncoding encoding(LoadedModel loaded) {
        return PairEncoding.forExperiment(loaded.tokenizer(), loaded.checkpoint().experiment());
    }

    /** Beam search (greedy for beam 1) generating at most {@code maxTokens} tokens (0: the run's max_target_length). */
    static BeamSearch search(PairEncoding encoding, int beam, double lengthPenalty, int maxTokens) {
        if (maxTokens < 0) {
            throw new KilnException("--max-tokens must be ≥ 0, got " + maxTokens);
        }
        return new BeamSearch(beam, lengthPenalty, maxTokens == 0 ? encoding.maxTarget() : maxTokens, encoding.bos(),
                encoding.eos());
    }

    static String describe(BeamSearch search) {
        return search.beam() == 1 ? "greedy" : "beam " + search.beam() + ", length penalty " + search.lengthPenalty();
    }
}
