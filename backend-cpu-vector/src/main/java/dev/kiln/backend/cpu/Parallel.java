package dev.kiln.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The backend's own fork-join pool. Only outer loops are split; a kernel called from inside a task runs inline, so
 * parallel regions never nest.
 */
final class Parallel implements AutoCloseable {
    /** A contiguous range [start, end) of an outer loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int start, int end);
    }

    private final ForkJoinPool pool;
    private final int threads;

    Parallel(int threads) {
        this.threads = threads;
        // the pool index is not assigned until the worker registers, so the names count on their own
        AtomicInteger created = new AtomicInteger();
        this.pool = threads > 1 ? new ForkJoinPool(threads, p -> {
            var worker = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            worker.setName("kiln-cpu-" + created.getAndIncrement());
            worker.setDaemon(true);
            return worker;
        }, null, false) : null;
    }

    int threads() {
        return threads;
    }

    /**
     * Runs body over [0, n) in chunks of at least {@code grain} iterations, on up to 4·threads tasks; inline when the
     * work is too small or we are already on a worker.
     */
    void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = (int) Math.min((long) threads * 4, (n + (long) grain - 1) / Math.max(1, grain));
        if (pool == null || chunks <= 1 || ForkJoinTask.inForkJoinPool()) {
            body.run(0, n);
            return;
        }
        int chunk = (n + chunks - 1) / chunks;
        pool.invoke(new RangeTask(body, 0, n, chunk));
    }

    private static final class RangeTask extends RecursiveAction {
        private final RangeBody body;
        private final int start;
        private final int end;
        private final int chunk;

        RangeTask(RangeBody body, int start, int end, int chunk) {
            this.body = body;
            this.start = start;
            this.end = end;
            this.chunk = chunk;
        }

        @Override
        protected void compute() {
            if (end - start <= chunk) {
                body.run(start, end);
                return;
            }
            int pieces = (end - start + chunk - 1) / chunk;
            int mid = start + (pieces / 2) * chunk;
            invokeAll(new RangeTask(body, start, mid, chunk), new RangeTask(body, mid, end, chunk));
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
