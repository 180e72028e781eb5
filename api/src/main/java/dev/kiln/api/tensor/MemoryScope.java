package dev.kiln.api.tensor;

import dev.kiln.api.backend.Storage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Owns the storages of the tensors created while it is open on this thread, and releases them all on
 * {@link #close()} (the DJL {@code NDManager} idea). Use one per training step for activations and gradients; create
 * parameters and optimizer state outside it, or in a long-lived scope of their own. A parameter's gradient belongs to
 * the scope its parameter was created in, so a step scope never frees it.
 *
 * <pre>{@code
 * try (MemoryScope step = MemoryScope.open()) {
 *     Tensor loss = model.forward(x).crossEntropy(y, -1);
 *     loss.backward();
 *     lossValue = loss.item();
 * } // activations and intermediate gradients are released here
 * }</pre>
 */
public final class MemoryScope implements AutoCloseable {
    private static final ThreadLocal<Deque<MemoryScope>> OPEN = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Storage> storages = new ArrayList<>();
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private MemoryScope() {
    }

    /** Opens a scope that becomes the current one on this thread until closed. */
    public static MemoryScope open() {
        MemoryScope scope = new MemoryScope();
        OPEN.get().push(scope);
        return scope;
    }

    /** The innermost open scope of this thread, or null: storages made outside any scope live until released or GC'd. */
    static MemoryScope current() {
        return OPEN.get().peek();
    }

    void register(Storage storage) {
        if (closed) {
            throw new IllegalStateException("MemoryScope is already closed");
        }
        storages.add(storage);
    }

    /** How many storages this scope holds (for tests and diagnostics). */
    public int size() {
        return storages.size();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("a MemoryScope must be closed on the thread that opened it");
        }
        Deque<MemoryScope> open = OPEN.get();
        if (open.peek() != this) {
            throw new IllegalStateException("MemoryScopes must be closed innermost first");
        }
        open.pop();
        closed = true;
        for (Storage storage : storages) {
            storage.backend().release(storage);
        }
        storages.clear();
    }
}
