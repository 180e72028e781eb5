package dev.kiln.trainer.eval;

import dev.kiln.api.KilnException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Corpus and sentence BLEU exactly as sacrebleu 2.6 computes it (Papineni et al. 2002 with sacrebleu's tokenizers,
 * smoothing and brevity penalty against the closest reference length), so a score reported by Kiln is comparable with
 * one in a paper; {@link BleuScore#signature()} is sacrebleu's signature string for the settings.
 *
 * @param tokenizer      how hypotheses and references are split into words
 * @param lowercase      lowercase both sides first
 * @param smoothing      {@code exp} (sacrebleu's default), {@code floor}, {@code add-k} or {@code none}
 * @param smoothValue    floor's ε (default 0.1) or add-k's k (default 1); NaN means the default
 * @param effectiveOrder average only the n-gram orders the hypothesis has (what sentence BLEU uses)
 */
public record Bleu(BleuTokenizer tokenizer, boolean lowercase, String smoothing, double smoothValue,
                   boolean effectiveOrder) {
    public static final int MAX_ORDER = 4;
    /** The sacrebleu release whose definitions these are, as its signature names it. */
    public static final String SACREBLEU_VERSION = "2.6.0";
    private static final Set<String> SMOOTHINGS = Set.of("exp", "floor", "add-k", "none");

    public Bleu {
        if (!SMOOTHINGS.contains(smoothing)) {
            throw new KilnException("unknown BLEU smoothing '" + smoothing + "'; known: " + new TreeSet<>(SMOOTHINGS));
        }
        if (Double.isNaN(smoothValue)) {
            smoothValue = switch (smoothing) {
                case "floor" -> 0.1;
                case "add-k" -> 1;
                default -> Double.NaN;
            };
        }
    }

    /** sacrebleu's {@code BLEU()}: 13a, mixed case, exp smoothing. */
    public static Bleu standard() {
        return new Bleu(BleuTokenizer.V13A, false, "exp", Double.NaN, false);
    }

    /** Sentence-level BLEU as sacrebleu's {@code sentence_bleu}: these settings with the effective order. */
    public Bleu forSentences() {
        return new Bleu(tokenizer, lowercase, smoothing, smoothValue, true);
    }

    /**
     * BLEU of {@code hypotheses} against one or more reference streams, each as long as the hypotheses; an empty
     * reference counts as missing (a variable number of references), but every segment needs one.
     */
    public BleuScore corpusScore(List<String> hypotheses, List<List<String>> referenceStreams) {
        if (referenceStreams.isEmpty()) {
            throw new KilnException("BLEU needs at least one reference stream");
        }
        for (List<String> stream : referenceStreams) {
            if (stream.size() != hypotheses.size()) {
                throw new KilnException("BLEU: " + hypotheses.size() + " hypotheses but a reference stream of "
                        + stream.size() + " segments");
            }
        }
        long[] stats = new long[2 + 2 * MAX_ORDER];
        Set<Integer> referenceCounts = new TreeSet<>();
        for (int i = 0; i < hypotheses.size(); i++) {
            List<String> references = new ArrayList<>();
            for (List<String> stream : referenceStreams) {
                String reference = stream.get(i);
                if (reference != null && !reference.isEmpty()) {
                    references.add(reference);
                }
            }
            if (references.isEmpty()) {
                throw new KilnException("BLEU: segment " + (i + 1) + " has no reference (all are empty)");
            }
            referenceCounts.add(references.size());
            long[] segment = segmentStatistics(hypotheses.get(i), references);
            for (int k = 0; k < stats.length; k++) {
                stats[k] += segment[k];
            }
        }
        String nrefs = referenceCounts.size() == 1 ? referenceCounts.iterator().next().toString() : "var";
        return fromStatistics(stats, nrefs);
    }

    /** BLEU of one hypothesis against its references (with {@link #forSentences()} settings, as sacrebleu's). */
    public BleuScore sentenceScore(String hypothesis, List<String> references) {
        return corpusScore(List.of(hypothesis), references.stream().map(List::of).toList());
    }

    /** [hypothesis length, closest reference length, matches of order 1..4, hypothesis n-grams of order 1..4]. */
    long[] segmentStatistics(String hypothesis, List<String> references) {
        Map<String, Integer> referenceMax = new HashMap<>();
        int[] referenceLengths = new int[references.size()];
        for (int r = 0; r < references.size(); r++) {
            List<String> tokens = PythonText.split(preprocess(references.get(r)));
            referenceLengths[r] = tokens.size();
            ngrams(tokens).forEach((ngram, count) -> referenceMax.merge(ngram, count, Math::max));
        }
        List<String> tokens = PythonText.split(preprocess(hypothesis));
        long[] stats = new long[2 + 2 * MAX_ORDER];
        stats[0] = tokens.size();
        stats[1] = closestLength(tokens.size(), referenceLengths);
        ngrams(tokens).forEach((ngram, count) -> {
            int order = spaces(ngram);
            stats[2 + MAX_ORDER + order] += count;
            Integer inReference = referenceMax.get(ngram);
            if (inReference != null) {
                stats[2 + order] += Math.min(count, inReference);
            }
        });
        return stats;
    }

    private String preprocess(String segment) {
        return tokenizer.tokenize(PythonText.rstrip(lowercase ? segment.toLowerCase(Locale.ROOT) : segment));
    }

    /** Every n-gram of order 1..4 as its tokens joined by single spaces (tokens never hold whitespace) → count. */
    private static Map<String, Integer> ngrams(List<String> tokens) {
        Map<String, Integer> counts = new HashMap<>();
        for (int n = 1; n <= MAX_ORDER; n++) {
            for (int i = 0; i + n <= tokens.size(); i++) {
                counts.merge(String.join(" ", tokens.subList(i, i + n)), 1, Integer::sum);
            }
        }
        return counts;
    }

    private static int spaces(String ngram) {
        int n = 0;
        for (int i = 0; i < ngram.length(); i++) {
            if (ngram.charAt(i) == ' ') {
                n++;
            }
        }
        return n;
    }

    /** The reference length closest to the hypothesis's, the shorter on a tie. */
    private static int closestLength(int hypothesisLength, int[] referenceLengths) {
        int closestDiff = -1;
        int closest = -1;
        for (int length : referenceLengths) {
            int diff = Math.abs(hypothesisLength - length);
            if (closestDiff == -1 || diff < closestDiff) {
                closestDiff = diff;
                closest = length;
            } else if (diff == closestDiff && length < closest) {
                closest = length;
            }
        }
        return closest;
    }

    /** The score from summed statistics: sacrebleu's {@code compute_bleu}, operation for operation. */
    BleuScore fromStatistics(long[] stats, String nrefs) {
        int sysLen = (int) stats[0];
        int refLen = (int) stats[1];
        double[] correct = new double[MAX_ORDER];
        double[] total = new double[MAX_ORDER];
        for (int n = 0; n < MAX_ORDER; n++) {
            correct[n] = stats[2 + n];
            total[n] = stats[2 + MAX_ORDER + n];
        }
        double bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - (double) refLen / sysLen) : 0.0) : 1.0;
        double[] precisions = new double[MAX_ORDER];
        String signature = signature(nrefs);
        if (Arrays.stream(correct).allMatch(c -> c == 0)) {
            return new BleuScore(0.0, correct, total, precisions, bp, sysLen, refLen, signature);
        }
        double smoothMteval = 1.0;
        int order = MAX_ORDER;
        for (int n = 1; n <= MAX_ORDER; n++) {
            if (smoothing.equals("add-k") && n > 1) {
                correct[n - 1] += smoothValue;
                total[n - 1] += smoothValue;
            }
            if (total[n - 1] == 0) {
                break;
            }
            if (effectiveOrder) {
                order = n;
            }
            if (correct[n - 1] == 0) {
                if (smoothing.equals("exp")) {
                    smoothMteval *= 2;
                    precisions[n - 1] = 100.0 / (smoothMteval * total[n - 1]);
                } else if (smoothing.equals("floor")) {
                    precisions[n - 1] = 100.0 * smoothValue / total[n - 1];
                }
            } else {
                precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
            }
        }
        double logSum = 0;
        for (int n = 0; n < order; n++) {
            logSum += precisions[n] == 0.0 ? -9999999999.0 : Math.log(precisions[n]);
        }
        return new BleuScore(bp * Math.exp(logSum / order), correct, total, precisions, bp, sysLen, refLen, signature);
    }

    /** sacrebleu's signature, e.g. {@code nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0}. */
    public String signature(String nrefs) {
        String smooth = smoothing.equals("floor") || smoothing.equals("add-k")
                ? smoothing + String.format(Locale.ROOT, "[%.2f]", smoothValue) : smoothing;
        return "nrefs:" + nrefs + "|case:" + (lowercase ? "lc" : "mixed") + "|eff:" + (effectiveOrder ? "yes" : "no")
                + "|tok:" + tokenizer.signatureName() + "|smooth:" + smooth + "|version:" + SACREBLEU_VERSION;
    }
}
