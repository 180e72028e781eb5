package dev.kiln.cli;

import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.trainer.data.PairEncoding;

/** What {@code kiln generate} and {@code kiln eval} share for a seq2seq checkpoint: its model, its encoding, how a search is described. */
final class Seq2SeqCommands {
    private Seq2SeqCommands() {
    }

    static EncoderDecoderModel model(LoadedModel loaded) {
        return (EncoderDecoderModel) loaded.model();
    }

    static PairEncoding encoding(LoadedModel loaded) {
        return PairEncoding.forExperiment(loaded.tokenizer(), loaded.checkpoint().experiment());
    }

    static String describe(BeamSearch search) {
        return search.beam() == 1 ? "greedy" : "beam " + search.beam() + ", length penalty " + search.lengthPenalty();
    }
}
