package dev.kiln.serve;

import dev.kiln.api.KilnException;
import java.time.Duration;

/**
 * How {@code kiln serve} listens and schedules: the address, the optional API key, how many sequences decode at once
 * ({@code parallel} slots) and how many may wait, the prompt chunk prefilled between decode steps, the longest
 * sequence of a model without a context limit, the largest request body, and how long shutdown waits for streams.
 */
public record ServeSettings(String host, int port, String apiKey, String modelId, int parallel, int queue,
                            int prefillChunk, int maxLength, int maxBody, Duration shutdownGrace) {
    public ServeSettings {
        if (port < 0 || port > 65535) {
            throw new KilnException("serve: --port must be in 0..65535, got " + port);
        }
        if (parallel < 1 || parallel > 1024) {
            throw new KilnException("serve: --parallel must be in 1..1024, got " + parallel);
        }
        if (queue < 0) {
            throw new KilnException("serve: --queue must be >= 0, got " + queue);
        }
        if (prefillChunk < 1) {
            throw new KilnException("serve: --prefill-chunk must be >= 1, got " + prefillChunk);
        }
        if (maxLength < 2) {
            throw new KilnException("serve: --max-length must be >= 2, got " + maxLength);
        }
        if (maxBody < 1024) {
            throw new KilnException("serve: --max-body must be at least 1024 bytes, got " + maxBody);
        }
        if (apiKey != null && apiKey.isBlank()) {
            apiKey = null;
        }
    }

    /** The defaults: loopback, port 8000, 4 slots, 64 waiting, 1 MiB bodies, 10 s to drain at shutdown. */
    public static ServeSettings defaults() {
        return new ServeSettings("127.0.0.1", 8000, null, null, 4, 64, 128, 4096, 1 << 20, Duration.ofSeconds(10));
    }

    public ServeSettings withPort(int newPort) {
        return new ServeSettings(host, newPort, apiKey, modelId, parallel, queue, prefillChunk, maxLength, maxBody,
                shutdownGrace);
    }

    public ServeSettings withParallel(int slots) {
        return new ServeSettings(host, port, apiKey, modelId, slots, queue, prefillChunk, maxLength, maxBody,
                shutdownGrace);
    }

    public ServeSettings withApiKey(String key) {
        return new ServeSettings(host, port, key, modelId, parallel, queue, prefillChunk, maxLength, maxBody,
                shutdownGrace);
    }
}
