package dev.kiln.api.nn;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * Trainable rows at the end of a frozen table: rows {@code [first, rows)} of an embedding (the tokens added to a
 * vocabulary) learn while the rest stay frozen, as PEFT's {@code trainable_token_indices} does. The values live in
 * {@code token_adapter.trainable_tokens_delta} (count, dim), PEFT's name; despite the name they are the rows
 * themselves, not differences.
 */
public final class TrainableRows implements WeightAdapter {
    private final int first;
    private final Tensor rows;

    /** Starts the trainable rows at the table's current values of rows [first, rows). */
    public TrainableRows(Tensor table, int first) {
        if (table.dim() != 2 || first < 0 || first >= table.size(0)) {
            throw new KilnException("trainable rows: row " + first + " is not inside a table of shape "
                    + java.util.Arrays.toString(table.shape()));
        }
        this.first = first;
        try (GradMode.NoGrad off = GradMode.noGrad()) {
            Tensor copy = Tensor.zeros(table.backend(), table.size(0) - first, table.size(1));
            copy.copyFrom(table.slice(0, first, table.size(0)));
            this.rows = copy.requiresGrad(true);
        }
    }

    /** The first trainable row's index. */
    public int first() {
        return first;
    }

    /** Indices of the trainable rows, as PEFT lists them in {@code trainable_token_indices}. */
    public List<Integer> indices() {
        return java.util.stream.IntStream.range(first, first + rows.size(0)).boxed().toList();
    }

    @Override
    public Map<String, Tensor> parameters() {
        return Map.of("token_adapter.trainable_tokens_delta", rows);
    }

    @Override
    public Tensor adapt(Tensor base, WeightLayout layout) {
        return Tensor.concat(List.of(base.slice(0, 0, first), rows), 0);
    }

    @Override
    public void mergeInto(Tensor base, WeightLayout layout) {
        try (GradMode.NoGrad off = GradMode.noGrad()) {
            base.copyFrom(adapt(base, layout));
        }
    }
}
