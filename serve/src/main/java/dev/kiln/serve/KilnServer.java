package dev.kiln.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * {@code kiln serve}: OpenAI's HTTP API over one {@link ServedModel}. The JDK's HTTP server hands each exchange to a
 * virtual thread, which only parses, enqueues and streams; the {@link Scheduler} owns the model. Every request gets
 * an answer — an error in OpenAI's envelope when it cannot be served — and none can stop the server.
 */
public final class KilnServer implements AutoCloseable {
    static {
        // a client that sends its request too slowly is cut off instead of holding a connection forever
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
            System.setProperty("sun.net.httpserver.maxReqTime", "60");
        }
    }

    private final ServedModel served;
    private final ServeSettings settings;
    private final Metrics metrics = new Metrics();
    private final Scheduler scheduler;
    private final GenerationResponder responder;
    private final HttpServer http;
    private final ExecutorService handlers;
    private volatile boolean stopping;
    private boolean stopped;

    private KilnServer(ServedModel served, ServeSettings settings) throws IOException {
        this.served = served;
        this.settings = settings;
        this.scheduler = new Scheduler(served, settings, metrics);
        this.responder = new GenerationResponder(served, scheduler, metrics);
        this.http = HttpServer.create(new InetSocketAddress(settings.host(), settings.port()), 128);
        this.handlers = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(handlers);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Binds and starts serving; the port may be 0 (any free one: see {@link #port()}). */
    public static KilnServer start(ServedModel served, ServeSettings settings) {
        try {
            return new KilnServer(served, settings);
        } catch (IOException e) {
            throw new KilnException("serve: cannot listen on " + settings.host() + ":" + settings.port() + ": "
                    + e.getMessage(), e);
        }
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public String baseUrl() {
        return "http://" + settings.host() + ":" + port() + "/v1";
    }

    /** The id requests name in {@code model}. */
    public String modelId() {
        return served.id();
    }

    /**
     * Graceful shutdown: new requests get 503 at once, running and queued generations get up to the settings' grace
     * period to finish, then whatever is left is ended with an error and the listener closes.
     */
    public synchronized void shutdown() {
        if (stopped) {
            return;
        }
        stopped = true;
        stopping = true;
        scheduler.stopAccepting();
        try {
            scheduler.awaitIdle(settings.shutdownGrace().toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        scheduler.close();
        http.stop(1);
        handlers.shutdown();
        try {
            handlers.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        handlers.shutdownNow();
    }

    @Override
    public void close() {
        shutdown();
    }

    private void handle(HttpExchange exchange) {
        String path = exchange.getRequestURI().getPath();
        String endpoint = switch (path) {
            case "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics" -> path;
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
        int status;
        try {
            status = route(exchange, path);
        } catch (ApiError e) {
            status = error(exchange, e);
        } catch (IOException e) {
            status = 499;                                          // the client went away mid-answer
        } catch (RuntimeException | Error e) {
            status = error(exchange, new ApiError(500, "server_error", "internal error: " + e, null, null));
        } finally {
            exchange.close();
        }
        metrics.request(endpoint, status);
    }

    private int route(HttpExchange exchange, String path) throws IOException {
        String method = exchange.getRequestMethod();
        if (path.equals("/health")) {
            requireMethod(method, "GET", path);
            return json(exchange, stopping ? 503 : 200, Map.of("status", stopping ? "shutting down" : "ok"));
        }
        authorize(exchange);
        switch (path) {
            case "/metrics" -> {
                requireMethod(method, "GET", path);
                byte[] text = metrics.render().getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                exchange.sendResponseHeaders(200, text.length);
                exchange.getResponseBody().write(text);
                return 200;
            }
            case "/v1/models" -> {
                requireMethod(method, "GET", path);
                return json(exchange, 200, Map.of("object", "list", "data", List.of(modelCard())));
            }
            case "/v1/completions", "/v1/chat/completions" -> {
                requireMethod(method, "POST", path);
                if (stopping) {
                    throw new ApiError(503, "server_error", "the server is shutting down", null,
                            "server_shutting_down");
                }
                Object body = readJson(exchange);
                GenerationRequest request = path.equals("/v1/completions")
                        ? GenerationRequest.completion(body, served, scheduler.maxLength())
                        : GenerationRequest.chat(body, served, scheduler.maxLength());
                int[] status = {200};
                responder.answer(request, new ExchangeSink(exchange, status));
                return status[0];
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    requireMethod(method, "GET", path);
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(served.id())) {
                        throw new ApiError(404, "invalid_request_error", "The model '" + id + "' does not exist; "
                                + "this server serves '" + served.id() + "'", "model", "model_not_found");
                    }
                    return json(exchange, 200, modelCard());
                }
                throw new ApiError(404, "invalid_request_error", "Unknown request URL: " + method + " " + path
                        + " (this server answers /v1/models, /v1/completions, /v1/chat/completions, /health and "
                        + "/metrics)", null, "unknown_url");
            }
        }
    }

    private Map<String, Object> modelCard() {
        Map<String, Object> card = new LinkedHashMap<>();
        card.put("id", served.id());
        card.put("object", "model");
        card.put("created", served.created());
        card.put("owned_by", "kiln");
        return card;
    }

    private static void requireMethod(String method, String wanted, String path) {
        if (!method.equals(wanted)) {
            throw new ApiError(405, "invalid_request_error", path + " takes " + wanted + ", not " + method, null,
                    "method_not_allowed");
        }
    }

    private void authorize(HttpExchange exchange) {
        if (settings.apiKey() == null) {
            return;
        }
        String header = exchange.getRequestHeaders().getFirst("Authorization");
        if (header == null || !header.startsWith("Bearer ")) {
            throw new ApiError(401, "invalid_request_error", "Missing bearer authentication in header (this server "
                    + "needs Authorization: Bearer <api key>)", null, "invalid_api_key");
        }
        byte[] given = header.substring("Bearer ".length()).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, settings.apiKey().getBytes(StandardCharsets.UTF_8))) {
            throw new ApiError(401, "invalid_request_error", "Incorrect API key provided", null, "invalid_api_key");
        }
    }

    /** The body as JSON: at most {@code maxBody} bytes (413 beyond), UTF-8 and well formed (400 otherwise). */
    private Object readJson(HttpExchange exchange) throws IOException {
        String length = exchange.getRequestHeaders().getFirst("Content-Length");
        if (length != null) {
            try {
                if (Long.parseLong(length.trim()) > settings.maxBody()) {
                    drain(exchange.getRequestBody());
                    throw tooLarge();
                }
            } catch (NumberFormatException e) {
                throw ApiError.invalid("Content-Length is not a number", null);
            }
        }
        byte[] bytes;
        try (InputStream in = exchange.getRequestBody()) {
            bytes = in.readNBytes(settings.maxBody() + 1);
            if (bytes.length > settings.maxBody()) {
                drain(in);
                throw tooLarge();
            }
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw ApiError.invalid("the request body is not valid UTF-8", null);
        }
        if (text.isBlank()) {
            throw ApiError.invalid("the request body is empty; it must be a JSON object", null);
        }
        try {
            return Json.parse(text, "request body");
        } catch (KilnException e) {
            throw ApiError.invalid("the request body is not valid JSON: " + e.getMessage(), null, "invalid_json");
        }
    }

    /**
     * Reads and drops what is left of a refused body, up to 16 times the limit, so that the client, still sending,
     * reads the 413 instead of a reset connection; a body larger still is cut off with the connection.
     */
    private void drain(InputStream in) throws IOException {
        long left = 16L * settings.maxBody();
        byte[] scratch = new byte[1 << 16];
        for (int n; left > 0 && (n = in.read(scratch, 0, (int) Math.min(scratch.length, left))) > 0; ) {
            left -= n;
        }
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", "the request body is larger than " + settings.maxBody()
                + " bytes (kiln serve --max-body)", null, "request_too_large");
    }

    private static int json(HttpExchange exchange, int status, Map<String, Object> body) throws IOException {
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
        return status;
    }

    private static int error(HttpExchange exchange, ApiError e) {
        try {
            if (e.status >= 400 && e.status < 500 && e.status != 429) {
                exchange.getResponseHeaders().set("x-should-retry", "false");
            }
            if (e.status == 429 || e.status == 503) {
                exchange.getResponseHeaders().set("Retry-After", e.status == 429 ? "1" : "5");
            }
            return json(exchange, e.status, e.envelope());
        } catch (IOException | RuntimeException ignored) {
            return e.status;                  // the headers went already (a stream) or the client is gone
        }
    }

    /** Answers through the exchange: a JSON body, or server-sent events flushed one by one. */
    private static final class ExchangeSink implements GenerationResponder.Sink {
        private final HttpExchange exchange;
        private final int[] status;
        private OutputStream stream;

        ExchangeSink(HttpExchange exchange, int[] status) {
            this.exchange = exchange;
            this.status = status;
        }

        @Override
        public void json(int code, Map<String, Object> body) throws IOException {
            status[0] = KilnServer.json(exchange, code, body);
        }

        @Override
        public void startStream() throws IOException {
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            exchange.getResponseHeaders().set("Cache-Control", "no-cache");
            exchange.sendResponseHeaders(200, 0);
            stream = exchange.getResponseBody();
        }

        @Override
        public void event(String data) throws IOException {
            stream.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
            stream.flush();
        }
    }
}
