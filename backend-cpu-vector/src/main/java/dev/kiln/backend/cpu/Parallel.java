package dev.kiln.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The backend's own threads: the calling thread and {@code threads − 1} workers share each parallel loop, taking
 * chunks from one counter. Only outer loops are split; a kernel called from inside a chunk runs inline, so parallel
 * regions never nest.
 *
 * <p>Between loops an idle worker spins for {@link #SPIN_NANOS} before it parks, as OpenMP runtimes do. A training step
 * or a decoded token is hundreds of short kernels back to back, and waking a parked thread for each of them cost more
 * than the kernels saved: with a fork-join pool, greedy decoding ran faster on one thread than on two.
 */
final class Parallel implements AutoCloseable {
    /** A contiguous range [start, end) of an outer loop. */
    @FunctionalInterface
    interface RangeBody {
        void run(int start, int end);
    }

    /** How long an idle worker keeps looking for the next loop before it parks. */
    private static final long SPIN_NANOS = 200_000;
    /**
     * How long a parked worker waits before its thread ends; the next loop starts a new one. A backend that is never
     * closed thus holds no threads once idle, as a fork-join pool's keep-alive does.
     */
    private static final long DEFAULT_KEEP_ALIVE_NANOS = 30_000_000_000L;

    private final int threads;
    private final long keepAliveNanos;
    private final Worker[] workers;
    /** One loop at a time; a loop submitted while another runs (another thread, or a nested call) runs inline. */
    private final ReentrantLock submission = new ReentrantLock();
    private volatile Loop current;
    private volatile boolean closed;
    private long loops;

    Parallel(int threads) {
        this(threads, DEFAULT_KEEP_ALIVE_NANOS);
    }

    Parallel(int threads, long keepAliveNanos) {
        this.threads = threads;
        this.keepAliveNanos = keepAliveNanos;
        this.workers = new Worker[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker("kiln-cpu-" + (i + 1));
            workers[i].start();
        }
    }

    /** Whether every worker's thread is running (for tests of the keep-alive). */
    boolean allWorkersAlive() {
        for (Worker worker : workers) {
            if (worker.retired || !worker.thread.isAlive()) {
                return false;
            }
        }
        return true;
    }

    int threads() {
        return threads;
    }

    /**
     * Runs body over [0, n) in chunks of at least {@code grain} iterations, on up to 4·threads chunks; inline when the
     * work is too small, when we are inside a loop already, or when another thread's loop is running.
     */
    void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = (int) Math.min((long) threads * 4, (n + (long) grain - 1) / Math.max(1, grain));
        if (workers.length == 0 || chunks <= 1 || submission.isHeldByCurrentThread() || !submission.tryLock()) {
            body.run(0, n);
            return;
        }
        Loop loop;
        try {
            int chunk = (n + chunks - 1) / chunks;
            loop = new Loop(++loops, body, n, chunk);
            current = loop;
            for (Worker worker : workers) {
                if (worker.retired) {
                    // ended after its keep-alive: a fresh thread joins from the next chunk on (the loop never waits
                    // for a worker, so one that arrives late or not at all costs only speed)
                    worker.start();
                } else if (worker.parked) {
                    LockSupport.unpark(worker.thread);
                }
            }
            loop.work();
            while (loop.finished.get() < loop.chunks) {
                Thread.onSpinWait();
            }
            current = null;
        } finally {
            submission.unlock();
        }
        if (loop.failure != null) {
            if (loop.failure instanceof RuntimeException e) {
                throw e;
            }
            if (loop.failure instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(loop.failure);
        }
    }

    /** One parallel loop: chunks handed out by a counter to whichever thread asks first. */
    private static final class Loop {
        final long id;
        final RangeBody body;
        final int n;
        final int chunk;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        volatile Throwable failure;

        Loop(long id, RangeBody body, int n, int chunk) {
            this.id = id;
            this.body = body;
            this.n = n;
            this.chunk = chunk;
            this.chunks = (n + chunk - 1) / chunk;
        }

        /** Runs chunks until none is left; after a failure the rest are skipped, and the first failure is kept. */
        void work() {
            int index;
            while ((index = next.getAndIncrement()) < chunks) {
                int start = index * chunk;
                try {
                    if (failure == null) {
                        body.run(start, Math.min(n, start + chunk));
                    }
                } catch (Throwable t) {
                    synchronized (this) {
                        if (failure == null) {
                            failure = t;
                        }
                    }
                } finally {
                    finished.incrementAndGet();
                }
            }
        }
    }

    private final class Worker implements Runnable {
        private final String name;
        volatile Thread thread;
        volatile boolean parked;
        /** Set by the worker as its thread ends after the keep-alive; cleared by the submitter that restarts it. */
        volatile boolean retired;

        Worker(String name) {
            this.name = name;
        }

        /** Called by the constructor, and by a submitter holding the lock, so never twice at once. */
        void start() {
            retired = false;
            Thread started = Thread.ofPlatform().daemon().name(name).unstarted(this);
            thread = started;
            started.start();
        }

        @Override
        public void run() {
            long done = 0;
            long idleSince = System.nanoTime();
            while (!closed) {
                Loop loop = current;
                if (loop != null && loop.id != done) {
                    done = loop.id;
                    loop.work();
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    // announce the park before the last look, so a loop published meanwhile either is seen here or
                    // sees the flag and unparks us
                    parked = true;
                    Loop last = current;
                    if (!closed && (last == null || last.id == done)) {
                        LockSupport.parkNanos(this, keepAliveNanos);
                    }
                    parked = false;
                    Loop after = current;
                    if ((after == null || after.id == done) && System.nanoTime() - idleSince >= keepAliveNanos) {
                        retired = true;
                        return;
                    }
                    idleSince = System.nanoTime();
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Worker worker : workers) {
            LockSupport.unpark(worker.thread);
        }
    }
}
