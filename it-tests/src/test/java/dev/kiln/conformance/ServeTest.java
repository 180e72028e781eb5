package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatMessage;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.io.Json;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.serve.KilnServer;
import dev.kiln.serve.ServeSettings;
import dev.kiln.serve.ServedModel;
import dev.kiln.trainer.Plugins;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kiln serve} over loopback with the JDK's HTTP client: the Hugging Face snapshot reproduces transformers'
 * greedy ids and loss, the endpoints answer in OpenAI's shapes, every bad request gets one error in OpenAI's
 * envelope, a seeded request gives the same tokens and log-probabilities alone and among fifteen others, a client
 * that goes away frees its slot, and shutdown ends what runs.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ServeTest {
    private static final Path SNAPSHOT = SharedData.fixtures().resolve("hf_gpt2_tiny");
    private static final Plugins PLUGINS = Plugins.load(ModuleLayer.boot());
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static ServedModel gpt;
    private static KilnServer server;

    @BeforeAll
    static void start() {
        gpt = ServedModel.load(PLUGINS, SNAPSHOT, null, "cpu", null);
        server = KilnServer.start(gpt, ServeSettings.defaults().withPort(0).withParallel(16));
    }

    @AfterAll
    static void stop() {
        server.close();
        gpt.close();
    }

    private static Map<?, ?> expected() throws IOException {
        return (Map<?, ?>) Json.parse(Files.readString(SNAPSHOT.resolve("expected.json")), "expected.json");
    }

    record Reply(int status, Map<?, ?> body, HttpResponse<String> raw) {
        Map<?, ?> error() {
            return (Map<?, ?>) body.get("error");
        }

        Map<?, ?> choice(int i) {
            return (Map<?, ?>) ((List<?>) body.get("choices")).get(i);
        }
    }

    private static Reply post(KilnServer to, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + to.port() + path))
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            request.headers(headers);
        }
        HttpResponse<String> response = CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofString());
        Object parsed = response.body().isEmpty() ? Map.of() : Json.parse(response.body(), path);
        return new Reply(response.statusCode(), (Map<?, ?>) parsed, response);
    }

    private static Reply get(KilnServer to, String path, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + to.port() + path))
                .timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) {
            request.headers(headers);
        }
        HttpResponse<String> response = CLIENT.send(request.build(), HttpResponse.BodyHandlers.ofString());
        boolean json = response.headers().firstValue("Content-Type").orElse("").startsWith("application/json");
        return new Reply(response.statusCode(), json ? (Map<?, ?>) Json.parse(response.body(), path) : Map.of(),
                response);
    }

    /** The data lines of a streamed answer, parsed, up to [DONE] (which must come last). */
    private static List<Map<?, ?>> stream(KilnServer to, String path, String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + to.port() + path))
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<Stream<String>> response = CLIENT.send(request, HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<Map<?, ?>> chunks = new ArrayList<>();
        boolean done = false;
        for (String line : response.body().toList()) {
            if (line.isEmpty()) {
                continue;
            }
            assertTrue(line.startsWith("data: "), line);
            assertFalse(done, "nothing follows [DONE]");
            String data = line.substring(6);
            if (data.equals("[DONE]")) {
                done = true;
            } else {
                chunks.add((Map<?, ?>) Json.parse(data, "chunk"));
            }
        }
        assertTrue(done, "the stream ends with [DONE]");
        return chunks;
    }

    private static int intOf(Object value) {
        return ((Number) value).intValue();
    }

    @Test
    void aHuggingFaceSnapshotReproducesTransformersGreedyIdsAndLoss() throws Exception {
        Map<?, ?> expected = expected();
        int[] promptIds = ((List<?>) expected.get("prompt_ids")).stream().mapToInt(ServeTest::intOf).toArray();
        int[] greedyIds = ((List<?>) expected.get("greedy_ids")).stream().mapToInt(ServeTest::intOf).toArray();
        Tokenizer tokenizer = gpt.tokenizer();
        assertArrayEquals(promptIds, tokenizer.encode((String) expected.get("prompt")), "prompt ids");
        int[] generated = TextGeneration.generate(gpt.model(), promptIds, Sampling.greedy(greedyIds.length), t -> { });
        assertArrayEquals(greedyIds, generated, "greedy ids");
        int[] text = tokenizer.encode((String) expected.get("loss_text"));
        try (var noGrad = GradMode.noGrad()) {
            Backend backend = gpt.backend();
            int[] inputs = java.util.Arrays.copyOf(text, text.length - 1);
            int[] targets = java.util.Arrays.copyOfRange(text, 1, text.length);
            Tensor logits = gpt.model().forward(Tensor.ofInts(backend, inputs, 1, inputs.length));
            float loss = logits.reshape(inputs.length, gpt.model().vocabSize())
                    .crossEntropy(Tensor.ofInts(backend, targets, targets.length), -100).item();
            double want = ((Number) expected.get("loss")).doubleValue();
            assertEquals(want, loss, 1e-4 * want, "mean loss of model(ids, labels=ids)");
        }
        // and through the server, with the prompt given as token ids
        Reply reply = post(server, "/v1/completions", Json.write(Map.of("model", server.modelId(), "prompt",
                java.util.Arrays.stream(promptIds).boxed().toList(), "max_tokens", greedyIds.length,
                "temperature", 0)));
        assertEquals(200, reply.status(), reply.raw().body());
        assertEquals(expected.get("greedy_text"), reply.choice(0).get("text"));
        assertEquals("length", reply.choice(0).get("finish_reason"));
    }

    /**
     * What evaluation harnesses ask for a log-likelihood: echo with logprobs and max_tokens 0 scores the prompt's own
     * tokens; their mean negative log-probability is transformers' loss on the same text.
     */
    @Test
    void echoWithLogprobsScoresThePromptAsTransformersDoes() throws Exception {
        Map<?, ?> expected = expected();
        String text = (String) expected.get("loss_text");
        Reply reply = post(server, "/v1/completions", Json.write(Map.of("prompt", text, "max_tokens", 0, "echo", true,
                "logprobs", 1)));
        assertEquals(200, reply.status(), reply.raw().body());
        Map<?, ?> choice = reply.choice(0);
        assertEquals(text, choice.get("text"));
        assertEquals("length", choice.get("finish_reason"));
        Map<?, ?> logprobs = (Map<?, ?>) choice.get("logprobs");
        List<?> values = (List<?>) logprobs.get("token_logprobs");
        assertEquals(null, values.getFirst(), "the first token has nothing before it");
        assertEquals(text, String.join("", ((List<?>) logprobs.get("tokens")).stream().map(String.class::cast)
                .toList()));
        double sum = 0;
        for (Object v : values.subList(1, values.size())) {
            sum += ((Number) v).doubleValue();
        }
        double loss = ((Number) expected.get("loss")).doubleValue();
        assertEquals(loss, -sum / (values.size() - 1), 1e-4 * loss, "mean negative log-likelihood");
        assertEquals(0, intOf(((Map<?, ?>) reply.body().get("usage")).get("completion_tokens")));

        // streamed, with a continuation: the first chunk is the scored prompt, the text adds up
        List<Map<?, ?>> chunks = stream(server, "/v1/completions", Json.write(Map.of("prompt", text, "max_tokens", 3,
                "temperature", 0, "echo", true, "logprobs", 0, "stream", true)));
        Map<?, ?> first = (Map<?, ?>) ((List<?>) chunks.getFirst().get("choices")).getFirst();
        assertEquals(text, first.get("text"));
        assertEquals(values.size(), ((List<?>) ((Map<?, ?>) first.get("logprobs")).get("tokens")).size());
    }

    private static void assertArrayEquals(int[] expected, int[] actual, String what) {
        assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(actual), what);
    }

    @Test
    void theEndpointsAnswerInOpenAisShapes() throws Exception {
        Reply models = get(server, "/v1/models");
        assertEquals(200, models.status());
        assertEquals("list", models.body().get("object"));
        Map<?, ?> card = (Map<?, ?>) ((List<?>) models.body().get("data")).getFirst();
        assertEquals("hf_gpt2_tiny", card.get("id"));
        assertEquals("model", card.get("object"));
        assertNotNull(card.get("created"));
        assertNotNull(card.get("owned_by"));
        assertEquals(200, get(server, "/v1/models/hf_gpt2_tiny").status());
        assertEquals(200, get(server, "/health").status());

        String prompt = (String) expected().get("prompt");
        String greedy = (String) expected().get("greedy_text");
        Reply completion = post(server, "/v1/completions", Json.write(Map.of("prompt", prompt, "max_tokens", 8,
                "temperature", 0, "logprobs", 3, "echo", false)));
        assertEquals(200, completion.status());
        assertEquals("text_completion", completion.body().get("object"));
        Map<?, ?> usage = (Map<?, ?>) completion.body().get("usage");
        assertEquals(8, intOf(usage.get("prompt_tokens")));
        assertEquals(8, intOf(usage.get("completion_tokens")));
        assertEquals(16, intOf(usage.get("total_tokens")));
        String text = (String) completion.choice(0).get("text");
        assertTrue(greedy.startsWith(text), text);
        Map<?, ?> logprobs = (Map<?, ?>) completion.choice(0).get("logprobs");
        List<?> tokens = (List<?>) logprobs.get("tokens");
        List<?> values = (List<?>) logprobs.get("token_logprobs");
        List<?> tops = (List<?>) logprobs.get("top_logprobs");
        assertEquals(8, tokens.size());
        assertEquals(text, String.join("", tokens.stream().map(String.class::cast).toList()));
        for (int i = 0; i < tokens.size(); i++) {
            Map<?, ?> top = (Map<?, ?>) tops.get(i);
            assertTrue(top.size() <= 3 && !top.isEmpty());
            double chosen = ((Number) values.get(i)).doubleValue();
            assertTrue(chosen < 0);
            // greedy: the chosen token is the most likely one
            assertEquals(chosen, top.values().stream().mapToDouble(v -> ((Number) v).doubleValue()).max()
                    .orElseThrow(), 1e-12);
        }

        Reply echo = post(server, "/v1/completions", Json.write(Map.of("prompt", List.of(prompt, "First Citizen"),
                "max_tokens", 3, "temperature", 0, "echo", true, "n", 2)));
        assertEquals(4, ((List<?>) echo.body().get("choices")).size());
        assertTrue(((String) echo.choice(0).get("text")).startsWith(prompt + greedy.substring(0, 3)));
        assertEquals(echo.choice(0).get("text"), echo.choice(1).get("text"), "greedy choices agree");
        assertTrue(((String) echo.choice(2).get("text")).startsWith("First Citizen"));
        assertEquals(3, intOf(echo.choice(3).get("index")));

        // a stop string: the text ends just before it, with finish_reason stop
        String stop = greedy.substring(greedy.indexOf(" tasting"), greedy.indexOf(" tasting") + 5);
        Reply stopped = post(server, "/v1/completions", Json.write(Map.of("prompt", prompt, "max_tokens", 24,
                "temperature", 0, "stop", List.of("zzz", stop))));
        assertEquals(greedy.substring(0, greedy.indexOf(stop)), stopped.choice(0).get("text"));
        assertEquals("stop", stopped.choice(0).get("finish_reason"));

        // the same request streamed: the chunks add up to the same text, the usage comes last
        List<Map<?, ?>> chunks = stream(server, "/v1/completions", Json.write(Map.of("prompt", prompt,
                "max_tokens", 24, "temperature", 0, "stop", stop, "stream", true,
                "stream_options", Map.of("include_usage", true))));
        StringBuilder streamed = new StringBuilder();
        String finish = null;
        for (Map<?, ?> chunk : chunks.subList(0, chunks.size() - 1)) {
            Map<?, ?> choice = (Map<?, ?>) ((List<?>) chunk.get("choices")).getFirst();
            streamed.append(choice.get("text"));
            if (choice.get("finish_reason") != null) {
                finish = (String) choice.get("finish_reason");
            }
        }
        assertEquals(stopped.choice(0).get("text"), streamed.toString());
        assertEquals("stop", finish);
        Map<?, ?> last = chunks.getLast();
        assertTrue(((List<?>) last.get("choices")).isEmpty());
        assertEquals(stopped.body().get("usage"), last.get("usage"));

        Reply metrics = get(server, "/metrics");
        String exposition = metrics.raw().body();
        for (String name : List.of("kiln_requests_total{endpoint=\"/v1/completions\",status=\"200\"}",
                "kiln_time_to_first_token_seconds_bucket", "kiln_inter_token_latency_seconds_count",
                "kiln_queue_length", "kiln_batch_size_bucket", "kiln_generation_tokens_total")) {
            assertTrue(exposition.contains(name), name + " in /metrics");
        }
    }

    @Test
    void chatRendersTheMessagesThroughTheCheckpointsTemplate(@TempDir Path dir) throws Exception {
        for (String file : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.copy(SNAPSHOT.resolve(file), dir.resolve(file));
        }
        Files.writeString(dir.resolve("tokenizer_config.json"),
                Json.write(Map.of("chat_template", ChatTemplate.ALPACA.jinja())));
        try (ServedModel chatModel = ServedModel.load(PLUGINS, dir, null, "cpu", "tiny-chat");
             KilnServer chat = KilnServer.start(chatModel, ServeSettings.defaults().withPort(0))) {
            List<Map<String, String>> messages = List.of(Map.of("role", "system", "content", "Be brief."),
                    Map.of("role", "user", "content", "Who is Romeo?"));
            Reply reply = post(chat, "/v1/chat/completions", Json.write(Map.of("model", "tiny-chat", "messages",
                    messages, "max_tokens", 6, "temperature", 0, "logprobs", true, "top_logprobs", 2)));
            assertEquals(200, reply.status(), reply.raw().body());
            assertEquals("chat.completion", reply.body().get("object"));
            Map<?, ?> message = (Map<?, ?>) reply.choice(0).get("message");
            assertEquals("assistant", message.get("role"));
            int promptTokens = ChatTemplate.ALPACA.encode(chatModel.tokenizer(), List.of(
                    new ChatMessage("system", "Be brief."), new ChatMessage("user", "Who is Romeo?")), true).ids().length;
            assertEquals(promptTokens, intOf(((Map<?, ?>) reply.body().get("usage")).get("prompt_tokens")));
            List<?> content = (List<?>) ((Map<?, ?>) reply.choice(0).get("logprobs")).get("content");
            assertFalse(content.isEmpty());
            Map<?, ?> first = (Map<?, ?>) content.getFirst();
            assertEquals(2, ((List<?>) first.get("top_logprobs")).size());
            assertTrue(first.get("bytes") instanceof List<?>);

            List<Map<?, ?>> chunks = stream(chat, "/v1/chat/completions", Json.write(Map.of("messages", messages,
                    "max_tokens", 6, "temperature", 0, "stream", true, "stream_options",
                    Map.of("include_usage", true))));
            Map<?, ?> firstDelta = (Map<?, ?>) ((Map<?, ?>) ((List<?>) chunks.getFirst().get("choices")).getFirst())
                    .get("delta");
            assertEquals("assistant", firstDelta.get("role"));
            StringBuilder text = new StringBuilder();
            for (Map<?, ?> chunk : chunks) {
                assertEquals("chat.completion.chunk", chunk.get("object"));
                for (Object c : (List<?>) chunk.get("choices")) {
                    Object piece = ((Map<?, ?>) ((Map<?, ?>) c).get("delta")).get("content");
                    text.append(piece == null ? "" : piece);
                }
            }
            assertEquals(message.get("content"), text.toString());
            assertEquals(reply.body().get("usage"), chunks.getLast().get("usage"));
        }
    }

    @Test
    void everyBadRequestGetsOneErrorNamingWhatIsWrongAndTheServerStaysUp() throws Exception {
        String longPrompt = "word ".repeat(200);
        record Bad(String path, String body, int status, String param) {
        }
        List<Bad> cases = List.of(
                new Bad("/v1/completions", "{\"prompt\": \"hi\", ", 400, null),
                new Bad("/v1/completions", "", 400, null),
                new Bad("/v1/completions", "[1, 2]", 400, null),
                new Bad("/v1/completions", "{\"max_tokens\": 4}", 400, "prompt"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": \"4\"}", 400, "max_tokens"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 0}", 400, "max_tokens"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"temperature\": 3}", 400, "temperature"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"top_p\": -1}", 400, "top_p"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"logprobs\": 6}", 400, "logprobs"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"n\": 100}", 400, "n"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"stop\": \"\"}", 400, "stop"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"temprature\": 1}", 400, "temprature"),
                new Bad("/v1/completions", "{\"prompt\": [1, 99999999]}", 400, "prompt"),
                new Bad("/v1/completions", "{\"prompt\": {\"a\": 1}}", 400, "prompt"),
                new Bad("/v1/completions", "{\"prompt\": \"" + longPrompt + "\"}", 400, "prompt"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"stream_options\": {\"include_usage\": true}}", 400,
                        "stream_options"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"presence_penalty\": 1}", 400, "presence_penalty"),
                new Bad("/v1/completions", "{\"prompt\": \"hi\", \"model\": \"gpt-4\"}", 404, "model"),
                new Bad("/v1/completions", "[".repeat(100_000), 400, null),
                new Bad("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 400,
                        "messages"),
                new Bad("/v1/nothing", "{}", 404, null));
        for (Bad bad : cases) {
            Reply reply = post(server, bad.path(), bad.body());
            String what = bad.path() + " " + (bad.body().length() > 80 ? bad.body().substring(0, 80) : bad.body());
            assertEquals(bad.status(), reply.status(), what + ": " + reply.raw().body());
            Map<?, ?> error = reply.error();
            assertNotNull(error, what);
            assertTrue(error.get("message") instanceof String m && !m.isBlank(), what);
            assertTrue(error.get("type") instanceof String, what);
            assertEquals(bad.param(), error.get("param"), what + ": " + error.get("message"));
            assertEquals("false", reply.raw().headers().firstValue("x-should-retry").orElse(null), what);
        }
        Reply tooLong = post(server, "/v1/completions", "{\"prompt\": \"" + longPrompt + "\"}");
        assertEquals("context_length_exceeded", tooLong.error().get("code"));
        assertTrue(((String) tooLong.error().get("message")).contains("64"));
        Reply typo = post(server, "/v1/completions", "{\"prompt\": \"hi\", \"max_tokns\": 4}");
        assertTrue(((String) typo.error().get("message")).contains("max_tokens"), typo.raw().body());

        // invalid UTF-8, a body over the limit, a wrong method
        HttpResponse<String> binary = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                        + server.port() + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofByteArray(
                        new byte[] {'{', '"', (byte) 0xff, '"', ':', '1', '}'})).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(400, binary.statusCode());
        assertEquals(413, post(server, "/v1/completions", "{\"prompt\": \"" + "a".repeat(1 << 20) + "\"}")
                .status());
        assertEquals(405, get(server, "/v1/completions").status());
        assertEquals(200, get(server, "/health").status(), "the server is still up");
        assertEquals(200, post(server, "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2}").status());
    }

    @Test
    void anApiKeyIsCheckedAsABearerToken() throws Exception {
        try (KilnServer guarded = KilnServer.start(gpt, ServeSettings.defaults().withPort(0).withApiKey("sesame"))) {
            assertEquals(401, get(guarded, "/v1/models").status());
            Reply wrong = get(guarded, "/v1/models", "Authorization", "Bearer open");
            assertEquals(401, wrong.status());
            assertEquals("invalid_api_key", wrong.error().get("code"));
            assertEquals(200, get(guarded, "/v1/models", "Authorization", "Bearer sesame").status());
            assertEquals(200, get(guarded, "/health").status(), "health needs no key");
        }
    }

    /**
     * A small LSTM over GPT-2's vocabulary but for its last id, <|endoftext|> (50256): no context limit and no way to
     * end, so a generation runs as long as a test needs (a random model samples the end of text now and then).
     */
    private static ServedModel lstm() {
        Backend backend = PLUGINS.backend("cpu", Options.of("threads", "2"));
        LanguageModel model = PLUGINS.models().get("lstm").create(backend, Options.of("vocab_size", "50256",
                "embed_size", "8", "hidden_size", "8", "num_layers", "1"), new Generator(5));
        return new ServedModel("lstm-tiny", 0, model, gpt.tokenizer(), Optional.empty(), backend);
    }

    @Test
    void aFullQueueIs429WithRetryAfterAndAClientThatGoesAwayFreesItsSlot() throws Exception {
        try (ServedModel lstm = lstm();
             KilnServer busy = KilnServer.start(lstm, new ServeSettings("127.0.0.1", 0, null, null, 1, 0, 128,
                     1_000_000, 1 << 20, Duration.ofSeconds(10)))) {
            // a raw socket, so that the test can hang up in the middle of the stream
            Socket socket = new Socket("127.0.0.1", busy.port());
            String body = "{\"prompt\": \"Once\", \"max_tokens\": 500000, \"stream\": true}";
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[4096];
            int got = 0;
            while (got < 2000) {
                int n = in.read(buffer);
                assertTrue(n > 0, "the stream flows");
                got += n;
            }
            Reply refused = post(busy, "/v1/completions", "{\"prompt\": \"Twice\", \"max_tokens\": 2}");
            assertEquals(429, refused.status(), refused.raw().body());
            assertEquals("1", refused.raw().headers().firstValue("Retry-After").orElse(null));
            assertEquals("queue_full", refused.error().get("code"));
            socket.close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            String metrics;
            do {
                Thread.sleep(50);
                metrics = get(busy, "/metrics").raw().body();
            } while (!metrics.contains("kiln_active_slots 0") && System.nanoTime() < deadline);
            assertTrue(metrics.contains("kiln_active_slots 0"), "the slot is free again");
            assertTrue(metrics.contains("kiln_cancelled_sequences_total 1"), metrics);
            long generated = Long.parseLong(metrics.lines().filter(l -> l.startsWith("kiln_generation_tokens_total"))
                    .findFirst().orElseThrow().split(" ")[1]);
            assertTrue(generated < 500_000, "the generation stopped at the disconnect: " + generated);
            assertEquals(200, post(busy, "/v1/completions", "{\"prompt\": \"Twice\", \"max_tokens\": 2}").status());
        }
    }

    @Test
    void aSeededRequestGivesTheSameTokensAndLogprobsAloneAndAmongFifteenOthers() throws Exception {
        String probe = Json.write(Map.of("prompt", "ROMEO: But soft, what light", "max_tokens", 40, "temperature",
                0.9, "top_p", 0.95, "seed", 1234, "logprobs", 5));
        Reply alone = post(server, "/v1/completions", probe);
        assertEquals(200, alone.status());
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<Reply>> others = new ArrayList<>();
            for (int i = 0; i < 15; i++) {
                String body = Json.write(Map.of("prompt", "First Citizen number " + i + ":".repeat(i), "max_tokens",
                        50, "temperature", 1, "seed", i, "logprobs", 2));
                others.add(pool.submit(() -> post(server, "/v1/completions", body)));
            }
            Thread.sleep(200);                                    // the others are decoding when the probe arrives
            Reply crowded = post(server, "/v1/completions", probe);
            for (Future<Reply> f : others) {
                assertEquals(200, f.get().status());
            }
            assertEquals(Json.write(alone.choice(0)), Json.write(crowded.choice(0)),
                    "the same tokens and bitwise the same logprobs");
            String exposition = get(server, "/metrics").raw().body();
            long steps = metric(exposition, "kiln_batch_size_count");
            long single = metric(exposition, "kiln_batch_size_bucket{le=\"1.0\"}");
            assertTrue(steps > single, "sequences shared decode steps: " + exposition);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void shutdownEndsRunningStreamsWithinItsGraceAndRefusesNewRequests() throws Exception {
        ServedModel lstm = lstm();
        KilnServer closing = KilnServer.start(lstm, new ServeSettings("127.0.0.1", 0, null, null, 2, 4, 128,
                1_000_000, 1 << 20, Duration.ofSeconds(1)));
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + closing.port()
                    + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompt\": \"Once\", \"max_tokens\": 500000, \"stream\": true}")).build();
            CompletableFuture<HttpResponse<Stream<String>>> running = CLIENT.sendAsync(request,
                    HttpResponse.BodyHandlers.ofLines());
            HttpResponse<Stream<String>> response = running.get(30, TimeUnit.SECONDS);
            var lines = response.body().iterator();
            assertTrue(lines.hasNext());
            long start = System.nanoTime();
            CompletableFuture<Void> shutdown = CompletableFuture.runAsync(closing::shutdown);
            String lastData = null;
            while (lines.hasNext()) {
                String line = lines.next();
                if (line.startsWith("data: ")) {
                    lastData = line;
                }
            }
            shutdown.get(20, TimeUnit.SECONDS);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(seconds < 10, "shutdown took " + seconds + " s");
            assertNotNull(lastData);
            assertTrue(lastData.contains("server_shutting_down"), "the stream ends with an error: " + lastData);
            boolean refused;
            try {
                refused = post(closing, "/v1/completions", "{\"prompt\": \"x\"}").status() == 503;
            } catch (IOException e) {
                refused = true;                                  // the listener is closed
            }
            assertTrue(refused);
        } finally {
            closing.close();
            lstm.close();
        }
    }

    private static long metric(String exposition, String name) {
        return exposition.lines().filter(l -> l.startsWith(name + " ")).mapToLong(l -> Long.parseLong(
                l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElseThrow(() -> new AssertionError(name));
    }
}
