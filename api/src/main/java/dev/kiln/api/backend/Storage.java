package dev.kiln.api.backend;


/**
 * A flat buffer of {@link #size()} elements owned by one backend. What it holds (a Java array, a device buffer) is the
 * backend's business; everything above the backend sees only this handle.
 */
public interface Storage {
    DType dtype();

    int size();

    /** The backend that allocated this storage; operations reject storages of another backend. */
    Backend backend();

    /** True once {@link Backend#release(Storage)} has run; a released storage must not be used again. */
    boolean isReleased();
}
