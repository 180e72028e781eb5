package dev.kiln.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The spinning pool: every index exactly once, failures reach the caller, nesting and rival callers run inline. */
@Timeout(60)
class ParallelTest {

    @Test
    void everyIndexRunsExactlyOnceOverManyLoops() {
        try (Parallel parallel = new Parallel(3)) {
            for (int round = 0; round < 2000; round++) {
                int n = 1 + (round * 37) % 500;
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                parallel.forRange(n, 1 + round % 7, counting(hits));
                assertEachCounted(hits, 1, "round " + round);
            }
        }
    }

    @Test
    void aFailingChunkReachesTheCallerAndThePoolStaysUsable() {
        try (Parallel parallel = new Parallel(2)) {
            IllegalArgumentException boom = new IllegalArgumentException("boom");
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                () -> parallel.forRange(1000, 1, (start, end) -> {
                    if (start <= 500 && 500 < end) {
                        throw boom;
                    }
                }));
            assertSame(boom, thrown);
            AtomicIntegerArray hits = new AtomicIntegerArray(100);
            parallel.forRange(100, 1, counting(hits));
            assertEachCounted(hits, 1, "after the failure");
        }
    }

    @Test
    void aNestedLoopRunsInlineOnTheChunksThread() {
        try (Parallel parallel = new Parallel(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(64 * 64);
            parallel.forRange(64, 1, (start, end) -> {
                Thread outer = Thread.currentThread();
                for (int i = start; i < end; i++) {
                    int row = i;
                    parallel.forRange(64, 1, (s, e) -> {
                        assertSame(outer, Thread.currentThread());
                        for (int j = s; j < e; j++) {
                            hits.incrementAndGet(row * 64 + j);
                        }
                    });
                }
            });
            assertEachCounted(hits, 1, "nested");
        }
    }

    @Test
    void twoCallingThreadsShareThePoolWithoutMixingTheirLoops() throws InterruptedException {
        try (Parallel parallel = new Parallel(2)) {
            AtomicIntegerArray[] hits = {new AtomicIntegerArray(300), new AtomicIntegerArray(300)};
            Thread[] callers = new Thread[2];
            for (int t = 0; t < 2; t++) {
                AtomicIntegerArray mine = hits[t];
                callers[t] = Thread.ofPlatform().start(() -> {
                    for (int round = 0; round < 500; round++) {
                        parallel.forRange(300, 3, counting(mine));
                    }
                });
            }
            for (Thread caller : callers) {
                caller.join();
            }
            for (AtomicIntegerArray mine : hits) {
                assertEachCounted(mine, 500, "two callers");
            }
        }
    }

    @Test
    void workersEndAfterTheKeepAliveAndComeBackForTheNextLoop() throws InterruptedException {
        try (Parallel parallel = new Parallel(3, 200_000_000L)) {
            assertTrue(parallel.allWorkersAlive());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (parallel.allWorkersAlive() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertFalse(parallel.allWorkersAlive(), "idle workers should end after the keep-alive");
            AtomicIntegerArray hits = new AtomicIntegerArray(1000);
            parallel.forRange(1000, 1, counting(hits));
            assertEachCounted(hits, 1, "after the keep-alive");
            assertTrue(parallel.allWorkersAlive(), "the next loop restarts them");
        }
    }

    /** A loop body that counts each index it is given. */
    private static Parallel.RangeBody counting(AtomicIntegerArray hits) {
        return (start, end) -> {
            for (int i = start; i < end; i++) {
                hits.incrementAndGet(i);
            }
        };
    }

    private static void assertEachCounted(AtomicIntegerArray hits, int expected, String context) {
        for (int i = 0; i < hits.length(); i++) {
            assertEquals(expected, hits.get(i), context + ", index " + i);
        }
    }
}
