package dev.kiln.api.ops;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Storage;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The storages one composition or one conformance sample allocates, released together, and the stride patterns the
 * compositions use to treat a flat storage as a (rows, cols) matrix.
 */
final class Scratch implements AutoCloseable {
    private final Backend backend;
    private final List<Storage> storages = new ArrayList<>();

    Scratch(Backend backend) {
        this.backend = backend;
    }

    Storage floats(int size) {
        return keep(backend.allocate(DType.FLOAT32, size));
    }

    Storage scalar(float value) {
        return keep(backend.upload(new float[] {value}));
    }

    Storage upload(float[] values) {
        return keep(backend.upload(values));
    }

    Storage upload(int[] values) {
        return keep(backend.upload(values));
    }

    /** Uniform values on [low, high) from a seed (conformance samples). */
    Storage random(long seed, int size, double low, double high) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) (low + (high - low) * random.nextDouble());
        }
        return upload(values);
    }

    float[] read(Storage storage) {
        float[] out = new float[storage.size()];
        backend.download(storage, out);
        return out;
    }

    private Storage keep(Storage storage) {
        storages.add(storage);
        return storage;
    }

    @Override
    public void close() {
        storages.forEach(backend::release);
    }

    // Stride sets for a (rows, cols) matrix against a per-row column (rows), a per-column row (cols) or a scalar.
    static int[] matrix(int cols) {
        return new int[] {cols, 1};
    }

    static final int[] PER_ROW = {1, 0};
    static final int[] PER_COLUMN = {0, 1};

    static void rowwise(Backend b, BinaryOp op, Storage x, Storage perRow, Storage out, int rows, int cols) {
        b.binary(op, x, matrix(cols), perRow, PER_ROW, out, new int[] {rows, cols});
    }

    static void columnwise(Backend b, BinaryOp op, Storage x, Storage perColumn, Storage out, int rows, int cols) {
        b.binary(op, x, matrix(cols), perColumn, PER_COLUMN, out, new int[] {rows, cols});
    }

    static void withScalar(Backend b, BinaryOp op, Storage x, Storage scalar, Storage out) {
        b.binary(op, x, new int[] {1}, scalar, new int[] {0}, out, new int[] {x.size()});
    }

    /** scalar op x, elementwise (the scalar on the left). */
    static void scalarWith(Backend b, BinaryOp op, Storage scalar, Storage x, Storage out) {
        b.binary(op, scalar, new int[] {0}, x, new int[] {1}, out, new int[] {x.size()});
    }

    static void elementwise(Backend b, BinaryOp op, Storage x, Storage y, Storage out) {
        b.binary(op, x, new int[] {1}, y, new int[] {1}, out, new int[] {out.size()});
    }
}
