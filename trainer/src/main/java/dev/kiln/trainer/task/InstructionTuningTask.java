package dev.kiln.trainer.task;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.trainer.data.InstructionEncoding;
import dev.kiln.trainer.data.InstructionExample;
import dev.kiln.trainer.data.LengthBuckets;
import dev.kiln.trainer.eval.InstructionEvaluator;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The task {@code sft}: instruction fine-tuning on JSONL examples (chat, Alpaca or prompt/completion) rendered through
 * a chat template, with the loss on the answers only (or on everything, {@code loss_on=all}); evaluated on the
 * held-out examples for answer loss, perplexity, token accuracy and exact match of greedy answers.
 */
final class InstructionTuningTask implements Task {
    static final String ID = "sft";
    static final Set<String> OPTIONS = Set.of("template", "loss_on", "max_length", "eval_generate", "eval_max_tokens");

    private final TaskData data;
    private final Options options;
    private final ChatTemplate template;
    private final boolean lossOnAll;
    private final List<InstructionExample> train;
    private final List<InstructionExample> validation;

    InstructionTuningTask(TaskData data, Options options) {
        options.requireOnly("task " + ID, OPTIONS);
        this.data = data;
        this.options = options;
        this.template = ChatTemplate.named(options.string("template", "chatml"));
        String lossOn = options.string("loss_on", "answers");
        if (!lossOn.equals("answers") && !lossOn.equals("all")) {
            throw new KilnException("task.loss_on must be answers or all, got " + lossOn);
        }
        this.lossOnAll = lossOn.equals("all");
        this.train = parse(data.records(Split.TRAIN));
        this.validation = parse(data.records(Split.VALIDATION));
        Map<InstructionExample.Format, Integer> formats = new EnumMap<>(InstructionExample.Format.class);
        train.forEach(e -> formats.merge(e.format(), 1, Integer::sum));
        List<String> parts = new ArrayList<>();
        formats.forEach((format, n) -> parts.add(n + " " + format.label()));
        data.note("sft: " + train.size() + " training and " + validation.size() + " validation examples ("
                + String.join(", ", parts) + "), " + template.id() + " template, loss on "
                + (lossOnAll ? "every token" : "the answers"));
    }

    private static List<InstructionExample> parse(List<TextRecord> records) {
        return records.stream().map(InstructionExample::parse).toList();
    }

    static List<String> specialTokens(Options options) {
        return ChatTemplate.named(options.string("template", "chatml")).specialTokens();
    }

    InstructionEncoding encoding(int context) {
        return new InstructionEncoding(data.tokenizer(), template, lossOnAll, options.intOption("max_length", context));
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return Optional.of(template);
    }

    @Override
    public Set<ModelKind> modelKinds() {
        return Set.of(ModelKind.DECODER);
    }

    @Override
    public BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize) {
        InstructionEncoding encoding = encoding(context);
        List<InstructionEncoding.Row> rows = new ArrayList<>();
        int truncated = 0;
        int dropped = 0;
        for (InstructionExample example : train) {
            InstructionEncoding.Row row = encoding.encode(example);
            switch (row.fit()) {
                case DROPPED -> dropped++;
                case TRUNCATED -> {
                    truncated++;
                    rows.add(row);
                }
                case WHOLE -> rows.add(row);
            }
        }
        data.note("sft: " + rows.size() + " training examples fit max_length " + encoding.maxLength() + " ("
                + truncated + " cut to fit, keeping their answers), " + dropped + " dropped (the answer alone is "
                + "longer)");
        return new RowStream(rows, batchSize, seed, rank, worldSize);
    }

    @Override
    public Loss loss(LanguageModel model, Batch batch) {
        return Loss.crossEntropy(model.forward(batch.inputs()), batch);
    }

    @Override
    public Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context, long maxTargets) {
        return report(model, backend, batchSize, context, validation).evaluation();
    }

    InstructionEvaluator.Report report(LanguageModel model, Backend backend, int batchSize, int context,
                                       List<InstructionExample> examples) {
        return new InstructionEvaluator(encoding(context)).evaluate(model, backend, examples, batchSize,
                options.intOption("eval_generate", 200), options.intOption("eval_max_tokens", 64));
    }

    /** Rows padded to the longest in each batch (targets ignored there), in {@link LengthBuckets}' order. */
    private static final class RowStream implements BatchStream {
        private final List<InstructionEncoding.Row> rows;
        private final int batchSize;
        private final int rank;
        private final LengthBuckets order;

        RowStream(List<InstructionEncoding.Row> rows, int batchSize, long seed, int rank, int worldSize) {
            this.rows = rows;
            this.batchSize = batchSize;
            this.rank = rank;
            int globalRows = batchSize * worldSize;
            if (rows.size() < globalRows) {
                throw new KilnException("the sft task has " + rows.size() + " training examples that fit, fewer than "
                        + "one batch of " + globalRows + "; lower train.batch_size or add data");
            }
            this.order = new LengthBuckets(rows.size(), Comparator.comparingInt((Integer i) -> rows.get(i).inputs().length),
                    globalRows, seed);
        }

        @Override
        public Batch next(Backend backend) {
            int[] picked = order.next();
            List<InstructionEncoding.Row> batch = new ArrayList<>(batchSize);
            for (int i = rank * batchSize; i < (rank + 1) * batchSize; i++) {
                batch.add(rows.get(picked[i]));
            }
            int length = batch.stream().mapToInt(r -> r.inputs().length).max().orElseThrow();
            int[] x = new int[batchSize * length];
            int[] y = new int[batchSize * length];
            Arrays.fill(y, Task.IGNORE_INDEX);
            long counted = 0;
            for (int r = 0; r < batchSize; r++) {
                InstructionEncoding.Row row = batch.get(r);
                System.arraycopy(row.inputs(), 0, x, r * length, row.inputs().length);
                System.arraycopy(row.targets(), 0, y, r * length, row.targets().length);
                counted += row.counted();
            }
            return new Batch(ModelInputs.ids(Tensor.ofInts(backend, x, batchSize, length)),
                    Tensor.ofInts(backend, y, batchSize, length), counted);
        }

        @Override
        public long cursor() {
            return order.cursor();
        }

        @Override
        public void seek(long cursor) {
            order.seek(cursor);
        }
    }
}
