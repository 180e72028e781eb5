package dev.kiln.trainer.eval;

/**
 * A BLEU score (0–100) with what it was computed from, as sacrebleu reports it: matched and total n-grams per order
 * (after add-k smoothing where it applies), the precisions, the brevity penalty, the hypothesis and reference lengths
 * and the signature of the settings.
 */
public record BleuScore(double score, double[] counts, double[] totals, double[] precisions, double brevityPenalty,
                        int hypothesisLength, int referenceLength, String signature) {
    public BleuScore {
        counts = counts.clone();
        totals = totals.clone();
        precisions = precisions.clone();
    }

    @Override
    public double[] counts() {
        return counts.clone();
    }

    @Override
    public double[] totals() {
        return totals.clone();
    }

    @Override
    public double[] precisions() {
        return precisions.clone();
    }

    /** sacrebleu's one-line report, e.g. {@code BLEU|nrefs:1|…|version:2.6.0 = 34.28 67.1/41.2/27.0/17.9 (BP = 1.000 …)}. */
    public String format() {
        StringBuilder p = new StringBuilder();
        for (int i = 0; i < precisions.length; i++) {
            p.append(i == 0 ? "" : "/").append(String.format(java.util.Locale.ROOT, "%.1f", precisions[i]));
        }
        double ratio = referenceLength == 0 ? 0 : (double) hypothesisLength / referenceLength;
        return String.format(java.util.Locale.ROOT, "BLEU|%s = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
                signature, score, p, brevityPenalty, ratio, hypothesisLength, referenceLength);
    }
}
