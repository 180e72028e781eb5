package dev.kiln.api.backend;

/** Element types. Compute is float32 today; int32 carries token ids and targets; the half types are ready for storage. */
public enum DType {
    FLOAT32(4),
    BFLOAT16(2),
    FLOAT16(2),
    INT32(4);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }
}
