package dev.kiln.serve;

import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;

/**
 * One choice of one request as the scheduler sees it: the prompt, how much of it the slot has read, the token
 * chosen last and not yet fed back, what has been generated, and where events go. Only the scheduler thread touches
 * its state; {@link #cancel()} may come from anywhere (a client that went away).
 */
final class Sequence {
    final int choice;
    final int[] prompt;
    final GenerationParams params;
    final SplittableRandom random;
    final TextAssembler text;
    final BlockingQueue<Event> events;
    final long enqueuedNanos;
    int slot = -1;
    int fed;
    int pending = -1;
    int generated;
    boolean scored;
    long lastTokenNanos;
    private volatile boolean cancelled;

    Sequence(int choice, int[] prompt, GenerationParams params, long seed, TextAssembler text,
             BlockingQueue<Event> events) {
        this.choice = choice;
        this.prompt = prompt;
        this.params = params;
        this.random = new SplittableRandom(seed);
        this.text = text;
        this.events = events;
        this.enqueuedNanos = System.nanoTime();
    }

    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    boolean prefilled() {
        return fed == prompt.length;
    }
}
