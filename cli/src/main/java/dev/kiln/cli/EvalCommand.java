package dev.kiln.cli;

import dev.kiln.api.io.Json;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.TokenSequence;
import dev.kiln.trainer.data.Corpus;
import dev.kiln.trainer.eval.Evaluator;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kiln eval}: scores a checkpoint on a text file or directory, read front to back. */
@Command(name = "eval", description = "Loss, perplexity, bits per byte and next-token accuracy on a text.")
final class EvalCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--data", required = true, paramLabel = "PATH", description = "A text file or a directory.")
    Path data;

    @Option(names = "--context", paramLabel = "N", description = "Window length (default: the run's train.context, "
            + "else 64).")
    Integer context;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "16")
    int batchSize;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "0", description = "Tokens to score; 0: all.")
    long maxTokens;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Override
    public Integer call() {
        Corpus corpus = Corpus.read(data);
        try (LoadedModel loaded = model.load(kiln)) {
            int window = context != null ? context
                    : Integer.parseInt(loaded.checkpoint().experiment().getOrDefault("train.context", "64"));
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
