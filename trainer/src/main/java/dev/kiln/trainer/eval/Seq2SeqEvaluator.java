package dev.kiln.trainer.eval;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Task;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.trainer.data.PairBatches;
import dev.kiln.trainer.data.PairEncoding;
import dev.kiln.trainer.data.TextPair;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores an encoder-decoder on pairs: teacher-forced loss, perplexity and token accuracy over every target token (EOS
 * included), then the sources decoded (greedy or beam search) and compared with the targets as text — corpus BLEU
 * (sacrebleu's defaults), chrF and exact match.
 */
public final class Seq2SeqEvaluator {
    public static final String PERPLEXITY = "perplexity";
    public static final String TOKEN_ACCURACY = "token_accuracy";
    public static final String BLEU = "bleu";
    public static final String CHRF = "chrf";
    public static final String EXACT_MATCH = "exact_match";
    public static final String TARGETS = "targets";
    public static final String DECODED = "decoded";

    private final PairEncoding encoding;

    public Seq2SeqEvaluator(PairEncoding encoding) {
        this.encoding = encoding;
    }

    /** The evaluation with the BLEU score behind it (its signature), and every hypothesis in the pairs' order. */
    public record Report(Evaluation evaluation, BleuScore bleu, List<String> hypotheses, BeamSearch search) {
    }

    /**
     * Evaluates on {@code pairs} in batches of {@code batchSize}; at most {@code maxDecoded} sources are decoded
     * (0: all), in the pairs' order.
     */
    public Report evaluate(EncoderDecoderModel model, Backend backend, List<TextPair> pairs, int batchSize,
                           BeamSearch search, int maxDecoded) {
        boolean training = model.isTraining();
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            List<int[]> sources = new ArrayList<>();
            List<int[]> targets = new ArrayList<>();
            for (TextPair pair : pairs) {
                sources.add(encoding.source(pair.source()));
                targets.add(encoding.target(pair.target()));
            }
            List<Integer> order = byLength(sources, targets);
            double lossSum = 0;
            long counted = 0;
            long correct = 0;
            for (int from = 0; from < order.size(); from += batchSize) {
                List<Integer> rows = order.subList(from, Math.min(order.size(), from + batchSize));
                try (MemoryScope scope = MemoryScope.open()) {
                    Batch batch = PairBatches.build(backend, rows.stream().map(sources::get).toList(),
                            rows.stream().map(targets::get).toList(), encoding);
                    Tensor logits = model.forward(batch.inputs());                            // (B, T, V)
                    lossSum += logits.crossEntropySum(batch.targets(), Task.IGNORE_INDEX).item();
                    counted += batch.countedTargets();
                    correct += matches(logits.argmax(-1, false).toIntArray(), batch.targets().toIntArray());
                }
            }
            int decodedCount = maxDecoded > 0 ? Math.min(maxDecoded, pairs.size()) : pairs.size();
            List<String> hypotheses = decode(model, backend, sources.subList(0, decodedCount), batchSize, search);
            List<String> references = pairs.subList(0, decodedCount).stream().map(TextPair::target).toList();
            BleuScore bleu = Bleu.standard().corpusScore(hypotheses, List.of(references));
            double chrf = Chrf.standard().corpusScore(hypotheses, List.of(references));
            int exact = 0;
            for (int i = 0; i < decodedCount; i++) {
                exact += hypotheses.get(i).equals(references.get(i)) ? 1 : 0;
            }
            double loss = lossSum / Math.max(1, counted);
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put(PERPLEXITY, Math.exp(loss));
            metrics.put(TOKEN_ACCURACY, (double) correct / Math.max(1, counted));
            metrics.put(BLEU, bleu.score());
            metrics.put(CHRF, chrf);
            metrics.put(EXACT_MATCH, (double) exact / Math.max(1, decodedCount));
            metrics.put(TARGETS, (double) counted);
            metrics.put(DECODED, (double) decodedCount);
            return new Report(new Evaluation(loss, metrics), bleu, hypotheses, search);
        } finally {
            model.train(training);
        }
    }

    /** Decodes sources in batches of similar length, returning the texts in the sources' order. */
    public List<String> decode(EncoderDecoderModel model, Backend backend, List<int[]> sources, int batchSize,
                               BeamSearch search) {
        String[] texts = new String[sources.size()];
        List<Integer> order = byLength(sources, sources);
        for (int from = 0; from < order.size(); from += batchSize) {
            List<Integer> rows = order.subList(from, Math.min(order.size(), from + batchSize));
            try (MemoryScope scope = MemoryScope.open()) {
                int length = rows.stream().mapToInt(r -> sources.get(r).length).max().orElse(1);
                int[] ids = new int[rows.size() * length];
                java.util.Arrays.fill(ids, encoding.pad());
                int[] lengths = new int[rows.size()];
                for (int i = 0; i < rows.size(); i++) {
                    int[] s = sources.get(rows.get(i));
                    System.arraycopy(s, 0, ids, i * length, s.length);
                    lengths[i] = s.length;
                }
                List<BeamSearch.Hypothesis> best = search.decode(model, Tensor.ofInts(backend, ids, rows.size(), length),
                        lengths);
                for (int i = 0; i < rows.size(); i++) {
                    texts[rows.get(i)] = encoding.tokenizer().decode(best.get(i).tokens());
                }
            }
        }
        return List.of(texts);
    }

    private static List<Integer> byLength(List<int[]> sources, List<int[]> targets) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            order.add(i);
        }
        order.sort(Comparator.comparingInt((Integer i) -> sources.get(i).length).thenComparingInt(i -> targets.get(i).length));
        return order;
    }

    /** How many scored labels (not {@link Task#IGNORE_INDEX}) the predictions get right. */
    static long matches(int[] predicted, int[] labels) {
        long n = 0;
        for (int i = 0; i < labels.length; i++) {
            n += labels[i] != Task.IGNORE_INDEX && predicted[i] == labels[i] ? 1 : 0;
        }
        return n;
    }
}
