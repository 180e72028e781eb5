package dev.kiln.backend.opencl;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Storage;
import org.jocl.cl_mem;

/** A device buffer. Released deterministically through {@link Backend#release}, as DESIGN.md asks of device memory. */
final class ClStorage implements Storage {
    final cl_mem memory;
    private final DType dtype;
    private final int size;
    private final OpenClBackend backend;
    private volatile boolean released;

    ClStorage(cl_mem memory, DType dtype, int size, OpenClBackend backend) {
        this.memory = memory;
        this.dtype = dtype;
        this.size = size;
        this.backend = backend;
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
        return released;
    }

    /** Marks the storage released; true the first time only. */
    boolean markReleased() {
        synchronized (this) {
            if (released) {
                return false;
            }
            released = true;
            return true;
        }
    }
}
