package dev.kiln.backend.cpu;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.DType;

/** A Java array: float[] for FLOAT32, int[] for INT32. Released storages drop their array so misuse fails loudly. */
final class CpuStorage implements Storage {
    private final CpuBackend backend;
    private final DType dtype;
    private final int size;
    float[] floats;
    int[] ints;

    CpuStorage(CpuBackend backend, DType dtype, float[] floats, int[] ints, int size) {
        this.backend = backend;
        this.dtype = dtype;
        this.floats = floats;
        this.ints = ints;
        this.size = size;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public boolean isReleased() {
        return floats == null && ints == null;
    }

    @Override
    public String toString() {
        return "CpuStorage(" + dtype + ", " + size + (isReleased() ? ", released" : "") + ")";
    }
}
