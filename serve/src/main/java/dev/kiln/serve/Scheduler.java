package dev.kiln.serve;

import dev.kiln.api.model.SlotDecoder;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: the one thread that owns the model. Each turn it admits waiting sequences into free decoder
 * slots, prefills one prompt chunk (one sequence at a time, so a prompt's prefill never depends on what else is
 * waiting and running streams keep flowing between chunks), then runs every running sequence through one batched
 * decode step and samples each row on its own. A sequence leaves its slot the moment it ends, hits a stop string,
 * or is cancelled.
 */
final class Scheduler implements AutoCloseable {
    private final ServedModel served;
    private final SlotDecoder decoder;
    private final TokenSampler sampler;
    private final Metrics metrics;
    private final int prefillChunk;
    private final int queueLimit;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final Condition idle = lock.newCondition();
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> prefilling = new ArrayList<>();
    private final List<Sequence> running = new ArrayList<>();
    private final Thread thread;
    private int occupied;
    private boolean accepting = true;
    private boolean closed;

    Scheduler(ServedModel served, ServeSettings settings, Metrics metrics) {
        this.served = served;
        this.decoder = served.slotDecoder(settings.parallel(), settings.maxLength());
        this.sampler = new TokenSampler(served.model().vocabSize());
        this.metrics = metrics;
        this.prefillChunk = served.wholePrompt() ? Integer.MAX_VALUE : settings.prefillChunk();
        this.queueLimit = settings.queue();
        metrics.gauges(this::waitingCount, this::occupiedCount);
        this.thread = Thread.ofPlatform().name("kiln-scheduler").daemon().start(this::run);
    }

    /** The longest sequence (prompt and generated tokens) one slot holds. */
    int maxLength() {
        return decoder.maxLength();
    }

    /**
     * Queues a request's sequences together, or refuses them all: 429 when more would wait than the queue holds
     * beyond the free slots, 503 once shutdown has begun.
     */
    void submit(List<Sequence> sequences) {
        lock.lock();
        try {
            if (!accepting) {
                throw new ApiError(503, "server_error", "the server is shutting down", null, "server_shutting_down");
            }
            int free = decoder.capacity() - occupied;
            if (waiting.size() + sequences.size() > queueLimit + free) {
                throw new ApiError(429, "rate_limit_exceeded", "the server is busy: " + waiting.size()
                        + " sequences are waiting for one of " + decoder.capacity() + " slots", null,
                        "queue_full");
            }
            waiting.addAll(sequences);
            work.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new requests (503) from now on. */
    void stopAccepting() {
        lock.lock();
        try {
            accepting = false;
        } finally {
            lock.unlock();
        }
    }

    /** Waits up to {@code nanos} for every queued and running sequence to end; true when they all did. */
    boolean awaitIdle(long nanos) throws InterruptedException {
        lock.lock();
        try {
            while (occupied > 0 || !waiting.isEmpty()) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = idle.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Stops the thread, failing whatever still runs or waits with 503, and frees the decoder's caches. */
    @Override
    public void close() {
        lock.lock();
        try {
            accepting = false;
            closed = true;
            work.signal();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        decoder.close();
    }

    int waitingCount() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    int occupiedCount() {
        lock.lock();
        try {
            return occupied;
        } finally {
            lock.unlock();
        }
    }

    private void run() {
        try (var noGrad = GradMode.noGrad()) {
            while (admit()) {
                try {
                    dropCancelled();
                    if (!scoreOnePrompt()) {
                        prefillOneChunk();
                    }
                    decodeRunning();
                } catch (RuntimeException | Error e) {       // one bad turn fails its sequences, never the server
                    List<Sequence> active = new ArrayList<>(prefilling);
                    active.addAll(running);
                    prefilling.clear();
                    running.clear();
                    active.forEach(s -> fail(s, e));
                }
            }
        }
        ApiError shutdown = new ApiError(503, "server_error", "the server shut down before this generation ended",
                null, "server_shutting_down");
        List<Sequence> left = new ArrayList<>(prefilling);
        left.addAll(running);
        lock.lock();
        try {
            left.addAll(waiting);
            waiting.clear();
        } finally {
            lock.unlock();
        }
        for (Sequence s : left) {
            s.events.add(new Event.Failed(s.choice, shutdown));
            if (s.slot >= 0) {
                release(s);
            }
        }
    }

    /** Waits for work and moves waiting sequences into free slots; false once closed. */
    private boolean admit() {
        lock.lock();
        try {
            while (!closed && waiting.isEmpty() && prefilling.isEmpty() && running.isEmpty()) {
                work.awaitUninterruptibly();
            }
            if (closed) {
                return false;
            }
            while (!waiting.isEmpty() && occupied < decoder.capacity()) {
                Sequence s = waiting.poll();
                if (s.cancelled()) {
                    metrics.cancelled();
                    continue;
                }
                s.slot = decoder.open();
                occupied++;
                prefilling.add(s);
            }
            if (occupied == 0 && waiting.isEmpty()) {
                idle.signalAll();
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void dropCancelled() {
        for (List<Sequence> list : List.of(prefilling, running)) {
            for (int i = list.size() - 1; i >= 0; i--) {
                Sequence s = list.get(i);
                if (s.cancelled()) {
                    list.remove(i);
                    metrics.cancelled();
                    release(s);
                }
            }
        }
    }

    /**
     * Scores one waiting prompt whose request asked for the prompt's own log-probabilities (echo with logprobs): one
     * forward pass over it, alone; true when it did, so that this turn prefills nothing else.
     */
    private boolean scoreOnePrompt() {
        for (Sequence s : prefilling) {
            if (s.params.promptLogprobs() && !s.scored) {
                s.scored = true;
                int[] prompt = s.prompt;
                Tokenizer tokenizer = served.tokenizer();
                List<Event.Token> tokens = new ArrayList<>(prompt.length);
                tokens.add(new Event.Token(s.choice, prompt[0], tokenizer.decode(new int[] {prompt[0]}), null));
                if (prompt.length > 1) {
                    int vocab = served.model().vocabSize();
                    TokenSampler.Rows rows;
                    try (MemoryScope scope = MemoryScope.open()) {
                        Tensor logits = served.model().forward(Tensor.ofInts(served.backend(), prompt, 1,
                                prompt.length)).reshape(prompt.length, vocab);                     // (T, V)
                        rows = new TokenSampler.Rows(logits.toFloatArray(), null, logits.logSoftmax(-1).toFloatArray());
                    }
                    for (int i = 1; i < prompt.length; i++) {
                        tokens.add(new Event.Token(s.choice, prompt[i], tokenizer.decode(new int[] {prompt[i]}),
                                sampler.logprob(rows, i - 1, prompt[i], s.params.logprobs())));
                    }
                }
                s.events.add(new Event.PromptScores(s.choice, tokens));
                return true;
            }
        }
        return false;
    }

    private void prefillOneChunk() {
        if (prefilling.isEmpty()) {
            return;
        }
        Sequence s = prefilling.getFirst();
        if (s.params.maxTokens() == 0) {                      // echo alone: the prompt is the whole answer
            prefilling.removeFirst();
            s.events.add(new Event.Finished(s.choice, "length", "", s.prompt.length, 0));
            release(s);
            return;
        }
        int count = Math.min(prefillChunk, s.prompt.length - s.fed);
        int[] chunk = java.util.Arrays.copyOfRange(s.prompt, s.fed, s.fed + count);
        TokenSampler.Rows logits;
        try (MemoryScope scope = MemoryScope.open()) {
            logits = sampler.read(decoder.step(new int[] {s.slot}, new int[][] {chunk}), List.of(s));
        } catch (RuntimeException e) {
            prefilling.removeFirst();
            fail(s, e);
            return;
        }
        s.fed += count;
        if (s.prefilled()) {
            prefilling.removeFirst();
            if (choose(s, logits, 0)) {
                running.add(s);
            }
        }
    }

    private void decodeRunning() {
        if (running.isEmpty()) {
            return;
        }
        int rows = running.size();
        int[] slots = new int[rows];
        int[][] tokens = new int[rows][];
        for (int i = 0; i < rows; i++) {
            slots[i] = running.get(i).slot;
            tokens[i] = new int[] {running.get(i).pending};
        }
        metrics.batchSize.observe(rows);
        TokenSampler.Rows logits;
        try (MemoryScope scope = MemoryScope.open()) {
            logits = sampler.read(decoder.step(slots, tokens), running);
        } catch (RuntimeException e) {
            List<Sequence> failed = new ArrayList<>(running);
            running.clear();
            failed.forEach(s -> fail(s, e));
            return;
        }
        List<Sequence> still = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            Sequence s = running.get(i);
            if (choose(s, logits, i)) {
                still.add(s);
            }
        }
        running.clear();
        running.addAll(still);
    }

    /** Samples the sequence's next token from its logits row and reports it; false when the sequence has ended. */
    private boolean choose(Sequence s, TokenSampler.Rows logits, int row) {
        GenerationParams params = s.params;
        int token = sampler.choose(logits, row, params, s.random);
        Event.TokenLogprob logprob = params.wantsLogprobs() ? sampler.logprob(logits, row, token, params.logprobs())
                : null;
        long now = System.nanoTime();
        if (s.generated == 0) {
            metrics.timeToFirstToken.observe((now - s.enqueuedNanos) / 1e9);
        } else {
            metrics.interTokenLatency.observe((now - s.lastTokenNanos) / 1e9);
        }
        s.lastTokenNanos = now;
        s.generated++;
        metrics.completionToken();
        boolean endOfText = params.stopTokens().contains(token);
        String text = endOfText ? "" : s.text.add(token);
        s.events.add(new Event.Token(s.choice, token, text, logprob));
        String reason = null;
        if (endOfText || s.text.stopped()) {
            reason = "stop";
        } else if (s.generated >= params.maxTokens() || decoder.length(s.slot) + 1 > decoder.maxLength()) {
            reason = "length";
        }
        if (reason == null) {
            s.pending = token;
            return true;
        }
        s.events.add(new Event.Finished(s.choice, reason, s.text.finish(), s.prompt.length, s.generated));
        release(s);
        return false;
    }

    private void fail(Sequence s, Throwable e) {
        s.events.add(new Event.Failed(s.choice, new ApiError(500, "server_error", "generation failed: "
                + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), null, null)));
        if (s.slot >= 0) {
            release(s);
        }
    }

    private void release(Sequence s) {
        decoder.release(s.slot);
        s.slot = -1;
        lock.lock();
        try {
            occupied--;
            if (occupied == 0 && waiting.isEmpty()) {
                idle.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }
}
