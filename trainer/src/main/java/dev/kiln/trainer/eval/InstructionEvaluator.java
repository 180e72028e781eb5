package dev.kiln.trainer.eval;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Task;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.trainer.data.InstructionEncoding;
import dev.kiln.trainer.data.InstructionExample;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Scores an instruction-tuned model on held-out examples: the loss, perplexity and token accuracy on the answers
 * (teacher-forced; answer-only whatever the run trained on, so runs compare), and exact match: the model answers each
 * of the first {@code generate} questions greedily, and the answer counts when it equals the reference after
 * trimming surrounding whitespace.
 */
public final class InstructionEvaluator {
    public static final String PERPLEXITY = "perplexity";
    public static final String TOKEN_ACCURACY = "token_accuracy";
    public static final String EXACT_MATCH = "exact_match";
    public static final String EXAMPLES = "examples";
    public static final String ANSWERED = "answered";

    private final InstructionEncoding encoding;

    /** {@code encoding} must score answers only (its loss_on is ignored for scoring). */
    public InstructionEvaluator(InstructionEncoding encoding) {
        this.encoding = new InstructionEncoding(encoding.tokenizer(), encoding.template(), false, encoding.maxLength());
    }

    /** A report: the metrics, and each answered question with the model's answer and the reference. */
    public record Report(Evaluation evaluation, List<String[]> answers) {
    }

    public Report evaluate(LanguageModel model, Backend backend, List<InstructionExample> examples, int batchSize,
                           int generate, int maxNewTokens) {
        double nats = 0;
        long counted = 0;
        long correct = 0;
        int scored = 0;
        boolean wasTraining = model.isTraining();
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            List<InstructionEncoding.Row> rows = new ArrayList<>();
            for (InstructionExample example : examples) {
                InstructionEncoding.Row row = encoding.encode(example);
                if (row.fit() != InstructionEncoding.Fit.DROPPED && row.counted() > 0) {
                    rows.add(row);
                }
            }
            scored = rows.size();
            for (int first = 0; first < rows.size(); first += batchSize) {
                List<InstructionEncoding.Row> batch = rows.subList(first, Math.min(rows.size(), first + batchSize));
                int length = batch.stream().mapToInt(r -> r.inputs().length).max().orElse(1);
                int[] x = new int[batch.size() * length];
                int[] y = new int[batch.size() * length];
                java.util.Arrays.fill(y, Task.IGNORE_INDEX);
                for (int r = 0; r < batch.size(); r++) {
                    System.arraycopy(batch.get(r).inputs(), 0, x, r * length, batch.get(r).inputs().length);
                    System.arraycopy(batch.get(r).targets(), 0, y, r * length, batch.get(r).targets().length);
                }
                try (MemoryScope scope = MemoryScope.open()) {
                    Tensor logits = model.forward(ModelInputs.ids(Tensor.ofInts(backend, x, batch.size(), length)));
                    nats += logits.crossEntropySum(Tensor.ofInts(backend, y, batch.size(), length), Task.IGNORE_INDEX)
                            .item();
                    correct += Seq2SeqEvaluator.matches(logits.argmax(-1, false).toIntArray(), y);
                }
                for (int t : y) {
                    counted += t == Task.IGNORE_INDEX ? 0 : 1;
                }
            }
        } finally {
            model.train(wasTraining);
        }
        List<String[]> answers = new ArrayList<>();
        int matches = 0;
        int stop = encoding.template().stopTokenId(encoding.tokenizer());
        for (InstructionExample example : examples.subList(0, Math.min(generate, examples.size()))) {
            int[] prompt = encoding.prompt(example);
            int room = model.maxContext() == Integer.MAX_VALUE ? maxNewTokens : model.maxContext() - prompt.length;
            int budget = Math.min(maxNewTokens, Math.max(0, room));
            String answer = "";
            if (budget > 0 && prompt.length > 0) {
                int[] out = TextGeneration.generate(model, prompt, new Sampling(0, 0, 1.0, 0, budget, Set.of(stop)),
                        token -> { });
                int end = out.length > 0 && out[out.length - 1] == stop ? out.length - 1 : out.length;
                answer = encoding.tokenizer().decode(java.util.Arrays.copyOf(out, end));
            }
            boolean match = answer.strip().equals(example.answer().strip());
            matches += match ? 1 : 0;
            answers.add(new String[] {example.answer(), answer});
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        double loss = counted == 0 ? Double.NaN : nats / counted;
        metrics.put(PERPLEXITY, Math.exp(loss));
        metrics.put(TOKEN_ACCURACY, counted == 0 ? Double.NaN : (double) correct / counted);
        metrics.put(EXACT_MATCH, answers.isEmpty() ? Double.NaN : (double) matches / answers.size());
        metrics.put(EXAMPLES, (double) scored);
        metrics.put(ANSWERED, (double) answers.size());
        return new Report(new Evaluation(loss, metrics), answers);
    }
}
