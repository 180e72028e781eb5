package dev.kiln.trainer.task;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.trainer.data.LengthBuckets;
import dev.kiln.trainer.data.PairBatches;
import dev.kiln.trainer.data.PairEncoding;
import dev.kiln.trainer.data.TextPair;
import dev.kiln.trainer.eval.Seq2SeqEvaluator;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * The task {@code seq2seq}: an encoder-decoder trained on source → target pairs with teacher forcing (decoder input
 * BOS + target, labels target + EOS, padding ignored), in batches of similar lengths so little is padding; evaluated
 * on the validation pairs for loss, perplexity, token accuracy, and — decoding the sources — BLEU, chrF and exact match.
 */
final class Seq2SeqTask implements Task {
    static final String ID = "seq2seq";
    static final Set<String> OPTIONS = Set.of("source_field", "target_field", "bos", "eos", "pad", "max_source_length",
            "max_target_length", "eval_beam", "length_penalty", "eval_decode");

    private final TaskData data;
    private final Options options;
    private final List<TextPair> train;
    private final List<TextPair> validation;

    Seq2SeqTask(TaskData data, Options options) {
        options.requireOnly("task " + ID, OPTIONS);
        this.data = data;
        this.options = options;
        String sourceField = options.string("source_field", "source");
        String targetField = options.string("target_field", "target");
        this.train = TextPair.parse(data.records(Split.TRAIN), sourceField, targetField);
        this.validation = TextPair.parse(data.records(Split.VALIDATION), sourceField, targetField);
        encoding(64);                                    // the special tokens are checked before the first step
    }

    /** The encoding with this run's length limits (the options, else the training context). */
    PairEncoding encoding(int context) {
        return PairEncoding.of(data.tokenizer(), options.string("bos", PairEncoding.DEFAULT_BOS),
                options.string("eos", PairEncoding.DEFAULT_EOS), options.string("pad", PairEncoding.DEFAULT_PAD),
                options.intOption("max_source_length", context), options.intOption("max_target_length", context));
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public Set<ModelKind> modelKinds() {
        return Set.of(ModelKind.ENCODER_DECODER);
    }

    @Override
    public BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize) {
        PairEncoding encoding = encoding(context);
        List<String> sourceTexts = train.stream().map(TextPair::source).toList();
        List<String> targetTexts = train.stream().map(TextPair::target).toList();
        List<int[]> sources = data.tokenizer().encodeBatch(sourceTexts).stream().map(encoding::cutSource).toList();
        List<int[]> targets = data.tokenizer().encodeBatch(targetTexts).stream().map(encoding::cutTarget).toList();
        return new PairStream(sources, targets, encoding, batchSize, seed, rank, worldSize);
    }

    @Override
    public Loss loss(LanguageModel model, Batch batch) {
        return Loss.crossEntropy(model.forward(batch.inputs()), batch);
    }

    @Override
    public Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context, long maxTargets) {
        PairEncoding encoding = encoding(context);
        List<TextPair> pairs = validation;
        if (maxTargets > 0) {
            long targets = 0;
            int n = 0;
            while (n < validation.size() && targets < maxTargets) {
                targets += encoding.target(validation.get(n).target()).length + 1;
                n++;
            }
            pairs = validation.subList(0, n);
        }
        return new Seq2SeqEvaluator(encoding).evaluate((EncoderDecoderModel) model, backend, pairs, batchSize,
                encoding.search(options.intOption("eval_beam", 1), options.doubleOption("length_penalty", 0.6), 0),
                options.intOption("eval_decode", 256)).evaluation();
    }

    /** The training pairs in {@link LengthBuckets}' order (by source, then target length), rank r's slice of each. */
    private static final class PairStream implements BatchStream {
        private final List<int[]> sources;
        private final List<int[]> targets;
        private final PairEncoding encoding;
        private final int batchSize;
        private final int rank;
        private final LengthBuckets order;

        PairStream(List<int[]> sources, List<int[]> targets, PairEncoding encoding, int batchSize, long seed, int rank,
                   int worldSize) {
            if (sources.isEmpty()) {
                throw new KilnException("the seq2seq task has no training pairs");
            }
            this.sources = sources;
            this.targets = targets;
            this.encoding = encoding;
            this.batchSize = batchSize;
            this.rank = rank;
            int globalRows = batchSize * worldSize;
            if (sources.size() < globalRows) {
                throw new KilnException("the seq2seq task has " + sources.size() + " training pairs, fewer than one "
                        + "batch of " + globalRows + "; lower train.batch_size or add data");
            }
            this.order = new LengthBuckets(sources.size(), Comparator.comparingInt((Integer i) -> sources.get(i).length)
                    .thenComparingInt(i -> targets.get(i).length), globalRows, seed);
        }

        @Override
        public Batch next(Backend backend) {
            int[] rows = order.next();
            List<int[]> s = new ArrayList<>(batchSize);
            List<int[]> t = new ArrayList<>(batchSize);
            for (int i = rank * batchSize; i < (rank + 1) * batchSize; i++) {
                s.add(sources.get(rows[i]));
                t.add(targets.get(rows[i]));
            }
            return PairBatches.build(backend, s, t, encoding);
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
