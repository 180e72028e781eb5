package dev.kiln.serve;

import dev.kiln.api.io.Json;
import dev.kiln.api.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Runs one generation request through the scheduler and answers it in OpenAI's shapes: one JSON body with every
 * choice, or a stream of server-sent events ({@code data: {chunk}}, then {@code data: [DONE]}). A stream whose client
 * goes away cancels its sequences at once, freeing their slots.
 */
final class GenerationResponder {
    /** Where the answer goes: a JSON body, or a stream of events. */
    interface Sink {
        void json(int status, Map<String, Object> body) throws IOException;

        void startStream() throws IOException;

        void event(String data) throws IOException;
    }

    private final ServedModel served;
    private final Scheduler scheduler;
    private final Metrics metrics;

    GenerationResponder(ServedModel served, Scheduler scheduler, Metrics metrics) {
        this.served = served;
        this.scheduler = scheduler;
        this.metrics = metrics;
    }

    /** Per-choice state while the answer is assembled. */
    private static final class Choice {
        final int index;
        final int prompt;
        final StringBuilder text = new StringBuilder();
        final List<Event.Token> tokens = new ArrayList<>();
        List<Event.Token> promptTokens = List.of();
        String finishReason;
        int completionTokens;
        boolean roleSent;

        Choice(int index, int prompt) {
            this.index = index;
            this.prompt = prompt;
        }
    }

    void answer(GenerationRequest request, Sink sink) throws IOException {
        long start = System.nanoTime();
        String id = (request.chat() ? "chatcmpl-" : "cmpl-")
                + HexFormat.of().formatHex(java.nio.ByteBuffer.allocate(12).putLong(ThreadLocalRandom.current()
                .nextLong()).putInt(ThreadLocalRandom.current().nextInt()).array());
        long created = System.currentTimeMillis() / 1000;
        BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        List<Sequence> sequences = new ArrayList<>();
        List<Choice> choices = new ArrayList<>();
        long baseSeed = request.params().seed() != null ? request.params().seed()
                : ThreadLocalRandom.current().nextLong();
        int promptTokens = 0;
        for (int p = 0; p < request.prompts().size(); p++) {
            int[] prompt = request.prompts().get(p);
            promptTokens += prompt.length;
            for (int k = 0; k < request.n(); k++) {
                int index = p * request.n() + k;
                long seed = baseSeed + 0x9E3779B97F4A7C15L * k;    // choice k of every prompt: its own stream
                sequences.add(new Sequence(index, prompt, request.params(), seed,
                        new TextAssembler(served.tokenizer(), request.params().stop()), events));
                choices.add(new Choice(index, p));
            }
        }
        scheduler.submit(sequences);
        metrics.promptTokens(promptTokens);
        try {
            if (request.stream()) {
                stream(request, sink, id, created, events, choices, promptTokens);
            } else {
                whole(request, sink, id, created, events, choices, promptTokens);
            }
        } finally {
            sequences.forEach(Sequence::cancel);              // a no-op for those that ended
            metrics.requestDuration.observe((System.nanoTime() - start) / 1e9);
        }
    }

    private void whole(GenerationRequest request, Sink sink, String id, long created, BlockingQueue<Event> events,
                       List<Choice> choices, int promptTokens) throws IOException {
        int open = choices.size();
        while (open > 0) {
            Event event = take(events);
            Choice choice = choices.get(event.choice());
            switch (event) {
                case Event.Token t -> {
                    choice.text.append(t.text());
                    choice.tokens.add(t);
                }
                case Event.PromptScores p -> choice.promptTokens = p.tokens();
                case Event.Finished f -> {
                    choice.text.append(f.rest());
                    choice.finishReason = f.reason();
                    choice.completionTokens = f.completionTokens();
                    open--;
                }
                case Event.Failed failed -> throw failed.error();
            }
        }
        List<Object> out = new ArrayList<>();
        int completionTokens = 0;
        for (Choice c : choices) {
            completionTokens += c.completionTokens;
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("index", c.index);
            if (request.chat()) {
                Map<String, Object> message = new LinkedHashMap<>();
                message.put("role", "assistant");
                message.put("content", c.text.toString());
                message.put("refusal", null);
                item.put("message", message);
                item.put("logprobs", request.params().wantsLogprobs() ? chatLogprobs(c.tokens) : null);
            } else {
                String prefix = request.echo() ? request.promptTexts().get(c.prompt) : "";
                item.put("text", prefix + c.text);
                List<Event.Token> scored = new ArrayList<>(c.promptTokens);
                scored.addAll(c.tokens);
                item.put("logprobs", request.params().wantsLogprobs() ? completionLogprobs(scored, 0) : null);
            }
            item.put("finish_reason", c.finishReason);
            out.add(item);
        }
        Map<String, Object> body = envelope(request, id, created);
        body.put("choices", out);
        body.put("usage", usage(promptTokens, completionTokens));
        sink.json(200, body);
    }

    private void stream(GenerationRequest request, Sink sink, String id, long created, BlockingQueue<Event> events,
                        List<Choice> choices, int promptTokens) throws IOException {
        sink.startStream();
        if (request.chat()) {
            for (Choice c : choices) {
                Map<String, Object> delta = new LinkedHashMap<>();
                delta.put("role", "assistant");
                delta.put("content", "");
                chunk(request, sink, id, created, c, delta, null, null);
                c.roleSent = true;
            }
        } else if (request.echo() && !request.params().promptLogprobs()) {
            for (Choice c : choices) {
                String prompt = request.promptTexts().get(c.prompt);
                chunk(request, sink, id, created, c, prompt, null, null);
                c.text.append(prompt);
            }
        }
        int open = choices.size();
        int completionTokens = 0;
        while (open > 0) {
            Event event = take(events);
            Choice choice = choices.get(event.choice());
            switch (event) {
                case Event.Token t -> {
                    if (!t.text().isEmpty() || t.logprob() != null) {
                        Object logprobs = t.logprob() == null ? null : request.chat() ? chatLogprobs(List.of(t))
                                : completionLogprobs(List.of(t), choice.text.length());
                        chunk(request, sink, id, created, choice, content(request, t.text()), logprobs, null);
                    }
                    choice.text.append(t.text());
                }
                case Event.PromptScores p -> {                  // the echoed prompt, with its tokens' scores
                    String prompt = request.promptTexts().get(choice.prompt);
                    chunk(request, sink, id, created, choice, prompt, completionLogprobs(p.tokens(), 0), null);
                    choice.text.append(prompt);
                }
                case Event.Finished f -> {
                    completionTokens += f.completionTokens();
                    chunk(request, sink, id, created, choice, request.chat() && f.rest().isEmpty()
                            ? new LinkedHashMap<>() : content(request, f.rest()), null, f.reason());
                    open--;
                }
                case Event.Failed failed -> {
                    sink.event(Json.write(failed.error().envelope()));
                    return;
                }
            }
        }
        if (request.includeUsage()) {
            Map<String, Object> last = envelope(request, id, created);
            last.put("object", request.chat() ? "chat.completion.chunk" : "text_completion");
            last.put("choices", List.of());
            last.put("usage", usage(promptTokens, completionTokens));
            sink.event(Json.write(last));
        }
        sink.event("[DONE]");
    }

    private static Object content(GenerationRequest request, String text) {
        if (!request.chat()) {
            return text;
        }
        Map<String, Object> delta = new LinkedHashMap<>();
        delta.put("content", text);
        return delta;
    }

    private void chunk(GenerationRequest request, Sink sink, String id, long created, Choice choice, Object content,
                       Object logprobs, String finishReason) throws IOException {
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("index", choice.index);
        item.put(request.chat() ? "delta" : "text", content);
        item.put("logprobs", logprobs);
        item.put("finish_reason", finishReason);
        Map<String, Object> body = envelope(request, id, created);
        body.put("object", request.chat() ? "chat.completion.chunk" : "text_completion");
        body.put("choices", List.of(item));
        if (request.includeUsage()) {
            body.put("usage", null);
        }
        sink.event(Json.write(body));
    }

    private Map<String, Object> envelope(GenerationRequest request, String id, long created) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", id);
        body.put("object", request.chat() ? "chat.completion" : "text_completion");
        body.put("created", created);
        body.put("model", served.id());
        body.put("system_fingerprint", "kiln");
        return body;
    }

    private static Map<String, Object> usage(int prompt, int completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        return usage;
    }

    /** The legacy completions shape: parallel lists of tokens, log-probabilities, top alternatives and offsets. */
    private Map<String, Object> completionLogprobs(List<Event.Token> tokens, int startOffset) {
        Tokenizer tokenizer = served.tokenizer();
        List<Object> strings = new ArrayList<>();
        List<Object> logprobs = new ArrayList<>();
        List<Object> tops = new ArrayList<>();
        List<Object> offsets = new ArrayList<>();
        int offset = startOffset;
        for (Event.Token t : tokens) {
            String s = tokenizer.decode(new int[] {t.id()});
            strings.add(s);
            if (t.logprob() == null) {                        // a prompt's first token: nothing precedes it
                logprobs.add(null);
                tops.add(null);
            } else {
                logprobs.add(t.logprob().logprob());
                Map<String, Object> top = new LinkedHashMap<>();
                for (Event.Alternative a : t.logprob().top()) {
                    top.putIfAbsent(tokenizer.decode(new int[] {a.id()}), a.logprob());
                }
                tops.add(top);
            }
            offsets.add(offset);
            offset += t.text().length();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tokens", strings);
        out.put("token_logprobs", logprobs);
        out.put("top_logprobs", tops);
        out.put("text_offset", offsets);
        return out;
    }

    /** The chat shape: one entry per token with its bytes and its top alternatives. */
    private Map<String, Object> chatLogprobs(List<Event.Token> tokens) {
        List<Object> content = new ArrayList<>();
        for (Event.Token t : tokens) {
            Map<String, Object> entry = tokenEntry(t.id(), t.logprob().logprob());
            List<Object> top = new ArrayList<>();
            for (Event.Alternative a : t.logprob().top()) {
                top.add(tokenEntry(a.id(), a.logprob()));
            }
            entry.put("top_logprobs", top);
            content.add(entry);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("content", content);
        out.put("refusal", null);
        return out;
    }

    private Map<String, Object> tokenEntry(int id, double logprob) {
        byte[] bytes = served.tokenizer().decodeBytes(new int[] {id});
        List<Object> list = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            list.add(b & 0xff);
        }
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("token", served.tokenizer().decode(new int[] {id}));
        entry.put("logprob", logprob);
        entry.put("bytes", list);
        return entry;
    }

    private static Event take(BlockingQueue<Event> events) {
        try {
            return events.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server_error", "the server is shutting down", null, "server_shutting_down");
        }
    }
}
