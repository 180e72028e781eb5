package dev.kiln.trainer.eval;

import dev.kiln.api.KilnException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * chrF (Popović 2015) exactly as sacrebleu 2.6's {@code CHRF()} defaults compute it: character n-grams of order 1–6
 * with whitespace removed, β = 2, precision and recall averaged over the orders both sides have (no ε smoothing); a
 * segment with several references takes the one with the best sentence score; the corpus score is the F-score of the
 * summed statistics.
 */
public final class Chrf {
    public static final int CHAR_ORDER = 6;
    public static final int BETA = 2;

    private final boolean lowercase;

    public Chrf(boolean lowercase) {
        this.lowercase = lowercase;
    }

    /** sacrebleu's {@code CHRF()}: case-sensitive. */
    public static Chrf standard() {
        return new Chrf(false);
    }

    public double corpusScore(List<String> hypotheses, List<List<String>> referenceStreams) {
        long[] total = new long[3 * CHAR_ORDER];
        for (int i = 0; i < hypotheses.size(); i++) {
            List<String> references = new ArrayList<>();
            for (List<String> stream : referenceStreams) {
                if (stream.size() != hypotheses.size()) {
                    throw new KilnException("chrF: " + hypotheses.size() + " hypotheses but a reference stream of "
                            + stream.size() + " segments");
                }
                String reference = stream.get(i);
                if (reference != null && !reference.isEmpty()) {
                    references.add(reference);
                }
            }
            if (references.isEmpty()) {
                throw new KilnException("chrF: segment " + (i + 1) + " has no reference (all are empty)");
            }
            long[] segment = segmentStatistics(hypotheses.get(i), references);
            for (int k = 0; k < total.length; k++) {
                total[k] += segment[k];
            }
        }
        return fScore(total);
    }

    /** [hypothesis n-grams, reference n-grams, matches] per order, against the best-scoring reference. */
    long[] segmentStatistics(String hypothesis, List<String> references) {
        List<Map<String, Integer>> hyp = charNgrams(preprocess(hypothesis));
        long[] best = null;
        double bestScore = -1;
        for (String reference : references) {
            List<Map<String, Integer>> ref = charNgrams(preprocess(reference));
            long[] stats = new long[3 * CHAR_ORDER];
            for (int n = 0; n < CHAR_ORDER; n++) {
                long hypCount = 0;
                long matches = 0;
                Map<String, Integer> r = ref.get(n);
                for (Map.Entry<String, Integer> e : hyp.get(n).entrySet()) {
                    hypCount += e.getValue();
                    Integer inReference = r.get(e.getKey());
                    if (inReference != null) {
                        matches += Math.min(e.getValue(), inReference);
                    }
                }
                long refCount = 0;
                for (int c : r.values()) {
                    refCount += c;
                }
                stats[3 * n] = r.isEmpty() ? 0 : hypCount;              // no reference n-grams: no hits counted
                stats[3 * n + 1] = refCount;
                stats[3 * n + 2] = matches;
            }
            double score = fScore(stats);
            if (score > bestScore) {
                bestScore = score;
                best = stats;
            }
        }
        return best;
    }

    private String preprocess(String segment) {
        return lowercase ? segment.toLowerCase(Locale.ROOT) : segment;
    }

    private static List<Map<String, Integer>> charNgrams(String line) {
        int[] chars = PythonText.withoutSpaces(line);
        List<Map<String, Integer>> orders = new ArrayList<>(CHAR_ORDER);
        for (int n = 1; n <= CHAR_ORDER; n++) {
            Map<String, Integer> counts = new HashMap<>();
            for (int i = 0; i + n <= chars.length; i++) {
                counts.merge(new String(chars, i, n), 1, Integer::sum);
            }
            orders.add(counts);
        }
        return orders;
    }

    /** 0–100: F-β of the precision and recall averaged over the effective orders. */
    static double fScore(long[] stats) {
        double factor = BETA * BETA;
        double precision = 0;
        double recall = 0;
        int effectiveOrder = 0;
        for (int n = 0; n < CHAR_ORDER; n++) {
            long hyp = stats[3 * n];
            long ref = stats[3 * n + 1];
            long match = stats[3 * n + 2];
            if (hyp > 0 && ref > 0) {
                precision += (double) match / hyp;
                recall += (double) match / ref;
                effectiveOrder++;
            }
        }
        if (effectiveOrder == 0) {
            return 0.0;
        }
        precision /= effectiveOrder;
        recall /= effectiveOrder;
        if (precision + recall == 0) {
            return 0.0;
        }
        double score = (1 + factor) * precision * recall;
        score /= factor * precision + recall;
        return 100 * score;
    }
}
