package org.example.lines;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Evaluation;
import dev.kiln.api.task.Loss;
import dev.kiln.api.task.Split;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Next-token prediction within each line of the corpus: one padded row per line, padding not scored. */
final class LinesTask implements Task {
    private final TaskData data;
    private final int minTokens;

    LinesTask(TaskData data, int minTokens) {
        this.data = data;
        this.minTokens = minTokens;
    }

    @Override
    public String id() {
        return "lines";
    }

    @Override
    public Set<ModelKind> modelKinds() {
        return Set.of(ModelKind.DECODER);
    }

    private List<int[]> encoded(Split split) {
        List<int[]> lines = new ArrayList<>();
        for (TextRecord record : data.records(split)) {
            int[] ids = data.tokenizer().encode(record.text() + "\n");
            if (ids.length >= minTokens) {
                lines.add(ids);
            }
        }
        if (lines.isEmpty()) {
            throw new KilnException("task lines: no line of " + data.name() + " has " + minTokens + " tokens");
        }
        return lines;
    }

    /** Rows [first, first + rows) of lines as a padded batch of at most context tokens. */
    private static Batch batch(Backend backend, List<int[]> lines, long first, int rows, int context) {
        int[] x = new int[rows * context];
        int[] y = new int[rows * context];
        java.util.Arrays.fill(y, IGNORE_INDEX);
        long counted = 0;
        for (int r = 0; r < rows; r++) {
            int[] ids = lines.get((int) Long.remainderUnsigned(first + r, lines.size()));
            int n = Math.min(context, ids.length - 1);
            for (int t = 0; t < n; t++) {
                x[r * context + t] = ids[t];
                y[r * context + t] = ids[t + 1];
            }
            counted += n;
        }
        return new Batch(ModelInputs.ids(Tensor.ofInts(backend, x, rows, context)), Tensor.ofInts(backend, y, rows,
                context), counted);
    }

    @Override
    public BatchStream trainBatches(int batchSize, int context, long seed, int rank, int worldSize) {
        List<int[]> lines = encoded(Split.TRAIN);
        return new BatchStream() {
            private long cursor;

            @Override
            public Batch next(Backend backend) {
                Batch b = batch(backend, lines, cursor + (long) rank * batchSize, batchSize, context);
                cursor += (long) batchSize * worldSize;
                return b;
            }

            @Override
            public long cursor() {
                return cursor;
            }

            @Override
            public void seek(long position) {
                cursor = position;
            }
        };
    }

    @Override
    public Loss loss(LanguageModel model, Batch batch) {
        return Loss.crossEntropy(model.forward(batch.inputs()), batch);
    }

    @Override
    public Evaluation evaluate(LanguageModel model, Backend backend, int batchSize, int context, long maxTargets) {
        List<int[]> lines = encoded(Split.VALIDATION);
        double total = 0;
        long count = 0;
        boolean training = model.isTraining();
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            for (int first = 0; first < lines.size(); first += batchSize) {
                try (MemoryScope scope = MemoryScope.open()) {
                    Batch b = batch(backend, lines, first, Math.min(batchSize, lines.size() - first), context);
                    total += loss(model, b).sum().item();
                    count += b.countedTargets();
                }
            }
        } finally {
            model.train(training);
        }
        return new Evaluation(total / count, Map.of("lines", (double) lines.size()));
    }
}
