package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.Map;

/**
 * How paired text becomes token ids for an encoder-decoder: the source as it encodes, the target's decoder input as
 * BOS + target and its labels as target + EOS, padded with PAD. BOS, EOS and PAD are special tokens of the tokenizer
 * (for a trained BPE: {@code tokenizer.special=<pad>,<s>,</s>}); sources longer than {@code maxSource} and targets
 * longer than {@code maxTarget} − 1 are cut (as Hugging Face's {@code truncation=True}).
 */
public record PairEncoding(Tokenizer tokenizer, int bos, int eos, int pad, int maxSource, int maxTarget) {
    public static final String DEFAULT_BOS = "<s>";
    public static final String DEFAULT_EOS = "</s>";
    public static final String DEFAULT_PAD = "<pad>";

    /** The ids of the named special tokens; a missing one is an error saying how to add them. */
    public static PairEncoding of(Tokenizer tokenizer, String bos, String eos, String pad, int maxSource, int maxTarget) {
        Map<String, Integer> special = tokenizer.specialTokens();
        for (String name : new String[] {bos, eos, pad}) {
            if (!special.containsKey(name)) {
                throw new KilnException("the seq2seq task needs '" + name + "' as a special token of the tokenizer, which"
                        + " has " + special.keySet() + "; train it with tokenizer.special=" + pad + "," + bos + "," + eos
                        + " (see examples/numbers-to-words)");
            }
        }
        if (maxSource < 1 || maxTarget < 2) {
            throw new KilnException("seq2seq: the longest source (" + maxSource + ") must be at least 1 token and the "
                    + "longest target (" + maxTarget + ") at least 2 (BOS or EOS and one token)");
        }
        return new PairEncoding(tokenizer, special.get(bos), special.get(eos), special.get(pad), maxSource, maxTarget);
    }

    /**
     * The encoding a run used, from its experiment config ({@code task.bos}, {@code task.eos}, {@code task.pad},
     * {@code task.max_source_length} and {@code task.max_target_length}, which default to {@code train.context}).
     */
    public static PairEncoding forExperiment(Tokenizer tokenizer, Map<String, String> experiment) {
        int context = Integer.parseInt(experiment.getOrDefault("train.context", "64"));
        return of(tokenizer, experiment.getOrDefault("task.bos", DEFAULT_BOS),
                experiment.getOrDefault("task.eos", DEFAULT_EOS), experiment.getOrDefault("task.pad", DEFAULT_PAD),
                Integer.parseInt(experiment.getOrDefault("task.max_source_length", Integer.toString(context))),
                Integer.parseInt(experiment.getOrDefault("task.max_target_length", Integer.toString(context))));
    }

    /** The source's ids, cut to {@link #maxSource}; an empty source becomes one EOS so the encoder has a key. */
    public int[] source(String text) {
        return cutSource(tokenizer.encode(text));
    }

    /** The target's ids without BOS or EOS, cut so that BOS + target (and target + EOS) fit {@link #maxTarget}. */
    public int[] target(String text) {
        return cutTarget(tokenizer.encode(text));
    }

    /** Encoded source ids as {@link #source} returns them. */
    public int[] cutSource(int[] ids) {
        if (ids.length == 0) {
            return new int[] {eos};
        }
        return ids.length > maxSource ? Arrays.copyOf(ids, maxSource) : ids;
    }

    /** Encoded target ids as {@link #target} returns them. */
    public int[] cutTarget(int[] ids) {
        return ids.length > maxTarget - 1 ? Arrays.copyOf(ids, maxTarget - 1) : ids;
    }

    /**
     * Greedy (beam 1) or beam search from BOS to EOS, generating at most {@code maxTokens} tokens (0: as many as the
     * longest target).
     */
    public BeamSearch search(int beam, double lengthPenalty, int maxTokens) {
        if (maxTokens < 0) {
            throw new KilnException("the most tokens to generate must be ≥ 0, got " + maxTokens);
        }
        return new BeamSearch(beam, lengthPenalty, maxTokens == 0 ? maxTarget : maxTokens, bos, eos);
    }
}
