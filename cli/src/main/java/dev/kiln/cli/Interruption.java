package dev.kiln.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C and SIGTERM during a long command: a shutdown hook asks the work to stop (a training run finishes its step
 * and writes a checkpoint) and holds the JVM open until the work says it is done, for at most a minute.
 */
final class Interruption implements AutoCloseable {
    private static volatile boolean shuttingDown;
    private final CountDownLatch done = new CountDownLatch(1);
    private final Thread hook;

    private Interruption(Runnable stop) {
        hook = new Thread(() -> {
            shuttingDown = true;
            stop.run();
            try {
                done.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "kiln-interrupt");
    }

    /** Runs {@code stop} when the JVM is asked to end, until {@link #close()}. */
    static Interruption onSignal(Runnable stop) {
        Interruption interruption = new Interruption(stop);
        Runtime.getRuntime().addShutdownHook(interruption.hook);
        return interruption;
    }

    /** Whether the JVM is ending because of a signal: then main must not call System.exit (it would wait forever). */
    static boolean shuttingDown() {
        return shuttingDown;
    }

    /** The work is finished: the hook may let the JVM go, or is removed when no signal came. */
    @Override
    public void close() {
        done.countDown();
        if (!shuttingDown) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException alreadyShuttingDown) {
                // the hook is running; the latch lets it finish
            }
        }
    }
}
