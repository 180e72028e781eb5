package dev.kiln.trainer;

import dev.kiln.api.KilnException;
import dev.kiln.api.distributed.Communicator;
import dev.kiln.api.tensor.Tensor;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Sums gradients across the ranks of a data-parallel run, in buckets, while the backward pass goes on: as soon as the
 * gradients that became final fill a bucket, it is copied to the host and handed to one communication thread (the
 * only thread that calls the communicator during the pass); when every gradient is final the last bucket goes, the
 * step waits for all of them and writes the sums back. Buckets are filled in the order the backward pass finishes
 * the parameters, the same on every rank, so each rank sends the same sizes in the same order and the sums are the
 * same everywhere and from run to run.
 */
final class DataParallel implements TrainingStep.GradientHook, AutoCloseable {
    /** Floats per bucket (4 MB): big enough for the link's bandwidth, small enough to start early in the pass. */
    static final int BUCKET_FLOATS = 1 << 20;

    private final Communicator communicator;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "kiln-allreduce");
        t.setDaemon(true);
        return t;
    });
    private final List<Tensor> filling = new ArrayList<>();
    private int filled;
    private final List<Bucket> sent = new ArrayList<>();
    private long communicationNanos;
    private long waitedNanos;

    private record Bucket(List<Tensor> parameters, float[] values, Future<Long> done) {
    }

    DataParallel(Communicator communicator) {
        this.communicator = communicator;
    }

    @Override
    public void gradientReady(String name, Tensor parameter) {
        if (parameter.grad() == null) {
            return;
        }
        filling.add(parameter);
        filled += parameter.numel();
        if (filled >= BUCKET_FLOATS) {
            send();
        }
    }

    @Override
    public void allGradientsReady() {
        send();
        long start = System.nanoTime();
        try {
            for (Bucket bucket : sent) {
                communicationNanos += bucket.done().get();
                int at = 0;
                for (Tensor parameter : bucket.parameters()) {
                    Tensor grad = parameter.grad();
                    int n = (int) grad.numel();
                    grad.copyFrom(java.util.Arrays.copyOfRange(bucket.values(), at, at + n));
                    at += n;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KilnException("data parallel: interrupted while summing gradients");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new KilnException("data parallel: summing gradients across ranks failed: " + e.getCause(),
                    e.getCause());
        } finally {
            sent.clear();
        }
        waitedNanos += System.nanoTime() - start;
    }

    private void send() {
        if (filling.isEmpty()) {
            return;
        }
        List<Tensor> parameters = List.copyOf(filling);
        float[] values = new float[filled];
        int at = 0;
        for (Tensor parameter : parameters) {
            float[] grad = parameter.grad().toFloatArray();
            System.arraycopy(grad, 0, values, at, grad.length);
            at += grad.length;
        }
        filling.clear();
        filled = 0;
        sent.add(new Bucket(parameters, values, thread.submit(() -> {
            long start = System.nanoTime();
            communicator.allReduceSum(values, 0, values.length);
            return System.nanoTime() - start;
        })));
    }

    /** Seconds spent in all-reduces, and of those the seconds the step waited for them (the rest was hidden). */
    double[] communicationSeconds() {
        return new double[] {communicationNanos / 1e9, waitedNanos / 1e9};
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }

    /**
     * Checks that every rank starts from the same place: the same effective config and the same initial weights
     * (what one seed gives every rank, or one checkpoint). A rank that differs stops with an error naming what.
     */
    static void checkSameStart(Communicator communicator, Map<String, String> config, Map<String, Tensor> weights) {
        byte[] configDigest = digest(new java.util.TreeMap<>(config).toString().getBytes(StandardCharsets.UTF_8));
        MessageDigest weightDigest = sha256();
        for (Map.Entry<String, Tensor> e : new java.util.TreeMap<>(weights).entrySet()) {
            weightDigest.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            float[] values = e.getValue().toFloatArray();
            java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(4 * values.length);
            bytes.asFloatBuffer().put(values);
            weightDigest.update(bytes.array());
        }
        byte[] mine = concat(configDigest, weightDigest.digest());
        byte[] root = mine.clone();
        communicator.broadcast(root, 0);
        boolean sameConfig = java.util.Arrays.equals(mine, 0, 32, root, 0, 32);
        boolean sameWeights = java.util.Arrays.equals(mine, 32, 64, root, 32, 64);
        double agree = communicator.sum(sameConfig && sameWeights ? 1 : 0);
        if (!sameConfig) {
            throw new KilnException("data parallel: rank " + communicator.rank() + " has another experiment config "
                    + "than rank 0 (every rank must run the same command)");
        }
        if (!sameWeights) {
            throw new KilnException("data parallel: rank " + communicator.rank() + " starts from other weights than "
                    + "rank 0 (a different checkpoint, data or tokenizer)");
        }
        if (agree < communicator.size()) {
            throw new KilnException("data parallel: another rank's config or weights differ from rank 0's; see that "
                    + "rank's error");
        }
    }

    private static byte[] digest(byte[] bytes) {
        return sha256().digest(bytes);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
