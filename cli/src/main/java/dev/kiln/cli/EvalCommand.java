package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.io.Json;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.data.InstructionEncoding;
import dev.kiln.trainer.data.InstructionExample;
import dev.kiln.trainer.data.PairEncoding;
import dev.kiln.trainer.data.TextPair;
import dev.kiln.trainer.eval.Evaluator;
import dev.kiln.trainer.eval.InstructionEvaluator;
import dev.kiln.trainer.eval.Seq2SeqEvaluator;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kiln eval}: scores a checkpoint on a text file or directory, read front to back. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Loss, perplexity, bits per byte and next-token accuracy on a text; BLEU for "
        + "seq2seq; exact match on instruction examples (sft).")
final class EvalCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--data", paramLabel = "PATH", description = "A text file or a directory (seq2seq: pairs, all of "
            + "them scored; default: the run's validation split).")
    Path data;

    @Option(names = "--beam", paramLabel = "N", defaultValue = "4", description = "seq2seq: beam size; 1 is greedy.")
    int beam;

    @Option(names = "--length-penalty", paramLabel = "A", defaultValue = "0.6", description = "seq2seq: GNMT's α.")
    double lengthPenalty;

    @Option(names = "--context", paramLabel = "N", description = "Window length (default: the run's train.context, "
            + "else 64).")
    Integer context;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "16")
    int batchSize;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "0", description = "Tokens to score; 0: all.")
    long maxTokens;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Option(names = "--task", paramLabel = "ID", description = "sft: score answers to instruction examples (JSONL "
            + "in --data; default for a checkpoint an sft run wrote, with its validation split).")
    String task;

    @Option(names = "--template", paramLabel = "NAME", description = "sft: the chat template for a checkpoint that "
            + "has none (chatml or alpaca; default chatml).")
    String template;

    @Option(names = "--generate", paramLabel = "N", defaultValue = "0", description = "sft: questions answered for "
            + "exact match; 0: all.")
    int generate;

    @Option(names = "--show", paramLabel = "N", defaultValue = "0", description = "sft: print the first N answers.")
    int show;

    @Override
    public Integer call() {
        try (LoadedModel loaded = model.load(kiln)) {
            if (loaded.model().kind() == ModelKind.ENCODER_DECODER) {
                return evaluatePairs(loaded);
            }
            String taskId = task != null ? task : loaded.checkpoint().experiment().getOrDefault("task.id", "lm");
            if (taskId.equals("sft")) {
                return evaluateInstructions(loaded);
            }
            if (task != null && !task.equals("lm")) {
                throw new KilnException("--task " + task + ": kiln eval scores lm (text), sft (instruction examples) "
                        + "and, for encoder-decoders, seq2seq pairs");
            }
            if (data == null) {
                throw new KilnException("--data is required for a " + loaded.model().modelId() + " model");
            }
            Corpus corpus = Corpus.read(data);
            String trained = loaded.checkpoint().experiment().get("train.context");
            int window = context != null ? context : trained != null ? Integer.parseInt(trained)
                    : Math.min(loaded.model().maxContext(), 1024);      // a snapshot: its own context
            window = Math.min(window, loaded.model().maxContext());
            int[] ids = loaded.tokenizer().encode(corpus.text());
            Evaluation e = new Evaluator(loaded.tokenizer()).evaluate(loaded.model(), loaded.backend(),
                    tokens(ids), window, batchSize, maxTokens);
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("checkpoint", loaded.checkpoint().directory().toString());
                result.put("data", corpus.name());
                result.put("loss", e.loss());
                result.put("perplexity", e.metric(Evaluator.PERPLEXITY));
                result.put("bits_per_byte", e.metric(Evaluator.BITS_PER_BYTE));
                result.put("accuracy", e.metric(Evaluator.ACCURACY));
                result.put("tokens", (long) e.metric(Evaluator.TOKENS));
                result.put("bytes", (long) e.metric(Evaluator.BYTES));
                kiln.out.println(Json.write(result));
            } else {
                kiln.out.printf(Locale.ROOT, "checkpoint     %s%ndata           %s (%d tokens scored, %d bytes)%n"
                                + "loss           %.4f nats per token%nperplexity     %.3f%nbits per byte  %.4f%n"
                                + "accuracy       %.2f%%%n", loaded.checkpoint().directory(), corpus.name(),
                        (long) e.metric(Evaluator.TOKENS), (long) e.metric(Evaluator.BYTES), e.loss(),
                        e.metric(Evaluator.PERPLEXITY), e.metric(Evaluator.BITS_PER_BYTE),
                        100 * e.metric(Evaluator.ACCURACY));
            }
        }
        return 0;
    }

    /** Decodes the pairs' sources and reports BLEU (with its signature), chrF, exact match, token accuracy, perplexity. */
    private int evaluatePairs(LoadedModel loaded) {
        Map<String, String> experiment = loaded.checkpoint().experiment();
        Scored scored = scored(experiment, "seq2seq", "pairs", "the pairs to score");
        List<TextRecord> records = scored.records();
        String name = scored.name();
        List<TextPair> pairs = TextPair.parse(records, experiment.getOrDefault("task.source_field", "source"),
                experiment.getOrDefault("task.target_field", "target"));
        PairEncoding encoding = Seq2SeqCommands.encoding(loaded);
        BeamSearch search = encoding.search(beam, lengthPenalty, 0);
        Seq2SeqEvaluator.Report report = new Seq2SeqEvaluator(encoding).evaluate(Seq2SeqCommands.model(loaded),
                loaded.backend(), pairs, batchSize, search, 0);
        Evaluation e = report.evaluation();
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("checkpoint", loaded.checkpoint().directory().toString());
            result.put("data", name);
            result.put("decoding", Seq2SeqCommands.describe(search));
            result.put("bleu", report.bleu().score());
            result.put("bleu_signature", report.bleu().signature());
            result.put("chrf", e.metric(Seq2SeqEvaluator.CHRF));
            result.put("exact_match", e.metric(Seq2SeqEvaluator.EXACT_MATCH));
            result.put("token_accuracy", e.metric(Seq2SeqEvaluator.TOKEN_ACCURACY));
            result.put("loss", e.loss());
            result.put("perplexity", e.metric(Seq2SeqEvaluator.PERPLEXITY));
            result.put("pairs", pairs.size());
            kiln.out.println(Json.write(result));
        } else {
            kiln.out.printf(Locale.ROOT, "checkpoint      %s%ndata            %s%ndecoding        %s%n%s%n"
                            + "chrF            %.2f%nexact match     %.2f%%%ntoken accuracy  %.2f%%%n"
                            + "loss            %.4f nats per target token%nperplexity      %.3f%n",
                    loaded.checkpoint().directory(), name, Seq2SeqCommands.describe(search), report.bleu().format(),
                    e.metric(Seq2SeqEvaluator.CHRF), 100 * e.metric(Seq2SeqEvaluator.EXACT_MATCH),
                    100 * e.metric(Seq2SeqEvaluator.TOKEN_ACCURACY), e.loss(), e.metric(Seq2SeqEvaluator.PERPLEXITY));
        }
        return 0;
    }

    /**
     * Answers held-out instruction examples and reports exact match, token accuracy and the answer loss. A checkpoint
     * without the template's special tokens (a base before fine-tuning) gets them added, its new rows at the mean.
     */
    private int evaluateInstructions(LoadedModel loaded) {
        Map<String, String> experiment = loaded.checkpoint().experiment();
        ChatTemplate chat = loaded.checkpoint().chatTemplate().orElseGet(() -> ChatTemplate.named(template != null
                ? template : experiment.getOrDefault("task.template", "chatml")));
        Scored scored = scored(experiment, "sft", "examples", "JSONL instruction examples to answer");
        List<TextRecord> records = scored.records();
        String name = scored.name();
        List<InstructionExample> examples = records.stream().map(InstructionExample::parse).toList();
        Tokenizer tokenizer = loaded.tokenizer().withSpecialTokens(chat.specialTokens());
        if (loaded.model().vocabSize() < tokenizer.vocabSize()) {
            loaded.model().growVocabulary(tokenizer.vocabSize());
        }
        int window = context != null ? context
                : Integer.parseInt(experiment.getOrDefault("task.max_length", experiment.getOrDefault("train.context",
                "256")));
        window = Math.min(window, loaded.model().maxContext());
        InstructionEncoding encoding = new InstructionEncoding(tokenizer, chat, false, window);
        InstructionEvaluator.Report report = new InstructionEvaluator(encoding).evaluate(loaded.model(),
                loaded.backend(), examples, batchSize, generate == 0 ? examples.size() : generate, 64);
        Evaluation e = report.evaluation();
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("checkpoint", loaded.checkpoint().directory().toString());
            result.put("data", name);
            result.put("template", chat.id());
            result.put("exact_match", e.metric(InstructionEvaluator.EXACT_MATCH));
            result.put("token_accuracy", e.metric(InstructionEvaluator.TOKEN_ACCURACY));
            result.put("loss", e.loss());
            result.put("perplexity", e.metric(InstructionEvaluator.PERPLEXITY));
            result.put("examples", (long) e.metric(InstructionEvaluator.EXAMPLES));
            result.put("answered", (long) e.metric(InstructionEvaluator.ANSWERED));
            kiln.out.println(Json.write(result));
        } else {
            kiln.out.printf(Locale.ROOT, "checkpoint      %s%ndata            %s%ntemplate        %s%n"
                            + "exact match     %.2f%% of %d answered%ntoken accuracy  %.2f%%%n"
                            + "loss            %.4f nats per answer token%nperplexity      %.3f%n",
                    loaded.checkpoint().directory(), name, chat.id(), 100 * e.metric(InstructionEvaluator.EXACT_MATCH),
                    (long) e.metric(InstructionEvaluator.ANSWERED), 100 * e.metric(InstructionEvaluator.TOKEN_ACCURACY),
                    e.loss(), e.metric(InstructionEvaluator.PERPLEXITY));
            for (String[] answer : report.answers().subList(0, Math.min(show, report.answers().size()))) {
                kiln.out.printf(Locale.ROOT, "  expected %-30s got %s%n", "\"" + answer[0] + "\"",
                        "\"" + answer[1] + "\"");
            }
        }
        return 0;
    }

    /** The records an evaluation scores, and how to name them. */
    private record Scored(List<TextRecord> records, String name) {
    }

    /**
     * All records of --data, or else the validation split of the data the run trained on (when it ran {@code task});
     * {@code unit} names a record in the description, {@code what} what --data should hold.
     */
    private Scored scored(Map<String, String> experiment, String task, String unit, String what) {
        if (data != null) {
            Corpus corpus = Corpus.read(data);
            return new Scored(corpus.lines(), corpus.name());
        }
        String path = experiment.getOrDefault("data.path", "");
        if (path.isEmpty() || !task.equals(experiment.getOrDefault("task.id", task))) {
            throw new KilnException("the run names no " + task + " data.path; give --data PATH with " + what);
        }
        Corpus corpus = Corpus.read(Path.of(path));
        List<TextRecord> records = Corpus.split(corpus.lines(),
                Double.parseDouble(experiment.getOrDefault("data.val_fraction", "0.1")), Split.VALIDATION);
        return new Scored(records, corpus.name() + " (validation split, " + records.size() + " " + unit + ")");
    }

    private static TokenSequence tokens(int[] ids) {
        return new TokenSequence() {
            @Override
            public int length() {
                return ids.length;
            }

            @Override
            public int get(int index) {
                return ids[index];
            }

            @Override
            public void get(int start, int[] destination, int offset, int count) {
                System.arraycopy(ids, start, destination, offset, count);
            }
        };
    }
}
