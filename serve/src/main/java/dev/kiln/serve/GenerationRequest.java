package dev.kiln.serve;

import dev.kiln.api.KilnException;
import dev.kiln.api.chat.ChatMessage;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A completions or chat completions request, checked and encoded: its prompts as token ids (one per prompt, each
 * answered {@code n} times), the sampling and stopping rules, and how to answer (streamed, with usage, echoing the
 * prompt). Every mistake is a 400 naming the field.
 */
record GenerationRequest(boolean chat, List<int[]> prompts, List<String> promptTexts, GenerationParams params, int n,
                         boolean stream, boolean includeUsage, boolean echo) {
    static final int MAX_CHOICES = 16;
    static final int MAX_SEQUENCES = 64;

    private static final Set<String> SHARED = Set.of("model", "max_tokens", "temperature", "top_p", "top_k", "n",
            "stop", "seed", "logprobs", "stream", "stream_options", "user", "frequency_penalty", "presence_penalty",
            "logit_bias");
    static final Set<String> COMPLETION_FIELDS = union(SHARED, Set.of("prompt", "echo", "best_of", "suffix"));
    static final Set<String> CHAT_FIELDS = union(SHARED, Set.of("messages", "max_completion_tokens", "top_logprobs",
            "response_format", "store", "metadata"));

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> out = new HashSet<>(a);
        out.addAll(b);
        return Set.copyOf(out);
    }

    /** {@code POST /v1/completions}. */
    static GenerationRequest completion(Object body, ServedModel served, int maxLength) {
        Fields f = Fields.of(body, COMPLETION_FIELDS);
        checkModel(f, served);
        f.neutral("best_of", 1L);
        f.neutral("suffix", "");
        if (!f.has("prompt")) {
            throw ApiError.invalid("prompt is required", "prompt");
        }
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        Object prompt = f.raw("prompt");
        if (prompt instanceof String s) {
            addText(s, served, prompts, texts);
        } else if (prompt instanceof List<?> list && !list.isEmpty() && list.getFirst() instanceof Long) {
            addIds(list, served, prompts, texts);
        } else if (prompt instanceof List<?> list && !list.isEmpty()) {
            for (Object item : list) {
                if (item instanceof String s) {
                    addText(s, served, prompts, texts);
                } else if (item instanceof List<?> ids && !ids.isEmpty()) {
                    addIds(ids, served, prompts, texts);
                } else {
                    throw ApiError.invalid("prompt must be a string, an array of strings, an array of token ids or "
                            + "an array of such arrays; found " + Fields.describe(item) + " in the array", "prompt");
                }
            }
        } else {
            throw ApiError.invalid("prompt must be a string, an array of strings, an array of token ids or an array "
                    + "of such arrays, got " + Fields.describe(prompt), "prompt");
        }
        checkLengths(prompts, maxLength, "prompt");
        int logprobs = f.has("logprobs") ? (int) f.integer("logprobs", 0, 0, 5) : -1;
        boolean echo = f.bool("echo", false);
        boolean scorePrompt = echo && logprobs >= 0;
        if (scorePrompt && served.pairs().isPresent()) {
            throw ApiError.invalid("echo with logprobs scores the prompt as a continuation, which an encoder-decoder "
                    + "model does not predict (its prompt is the source)", "echo");
        }
        int maxTokens = Math.min(served.maxNewTokens(), (int) f.integer("max_tokens", 16, echo ? 0 : 1,
                Integer.MAX_VALUE));
        return finish(f, false, prompts, texts, maxTokens, logprobs, served.stopTokens(), echo, scorePrompt);
    }

    /** {@code POST /v1/chat/completions}: the messages rendered through the checkpoint's chat template. */
    static GenerationRequest chat(Object body, ServedModel served, int maxLength) {
        Fields f = Fields.of(body, CHAT_FIELDS);
        checkModel(f, served);
        ChatTemplate template = served.chatTemplate().orElseThrow(() -> ApiError.invalid("the model " + served.id()
                + " has no chat template (no chat_template in its tokenizer_config.json); use /v1/completions, or "
                + "serve a checkpoint fine-tuned with the sft task", "messages", "no_chat_template"));
        if (!(f.raw("messages") instanceof List<?> raw) || raw.isEmpty()) {
            throw ApiError.invalid("messages must be a non-empty array of {role, content} objects", "messages");
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 0; i < raw.size(); i++) {
            messages.add(message(raw.get(i), i));
        }
        int[] ids;
        try {
            ids = template.encode(served.tokenizer(), messages, true).ids();
        } catch (KilnException e) {
            throw ApiError.invalid(e.getMessage(), "messages");
        }
        List<int[]> prompts = List.of(ids);
        checkLengths(prompts, maxLength, "messages");
        boolean logprobs = f.bool("logprobs", false);
        int top = (int) f.integer("top_logprobs", 0, 0, 20);
        if (f.has("top_logprobs") && !logprobs) {
            throw ApiError.invalid("top_logprobs needs logprobs set to true", "top_logprobs");
        }
        if (f.has("response_format") && !(f.raw("response_format") instanceof Map<?, ?> format
                && "text".equals(format.get("type")))) {
            throw ApiError.invalid("response_format: only {\"type\": \"text\"} is supported", "response_format");
        }
        String tokensField = f.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int maxTokens = (int) f.integer(tokensField, maxLength - ids.length, 1, Integer.MAX_VALUE);
        Set<Integer> stopTokens = new HashSet<>(served.stopTokens());
        stopTokens.add(template.stopTokenId(served.tokenizer()));
        return finish(f, true, prompts, List.of(""), maxTokens, logprobs ? top : -1, stopTokens, false, false);
    }

    private static GenerationRequest finish(Fields f, boolean chat, List<int[]> prompts, List<String> texts,
                                            int maxTokens, int logprobs, Set<Integer> stopTokens, boolean echo,
                                            boolean scorePrompt) {
        f.neutral("frequency_penalty", 0L);
        f.neutral("presence_penalty", 0L);
        if (f.has("logit_bias") && !(f.raw("logit_bias") instanceof Map<?, ?> bias && bias.isEmpty())) {
            throw ApiError.invalid("logit_bias is not supported by this server", "logit_bias");
        }
        f.string("user", null);
        double temperature = f.number("temperature", 1, 0, 2);
        double topP = f.number("top_p", 1, 0, 1);
        if (topP == 0) {
            temperature = 0;                      // only the most likely token remains
            topP = 1;
        }
        int topK = (int) f.integer("top_k", 0, 0, Integer.MAX_VALUE);
        int n = (int) f.integer("n", 1, 1, MAX_CHOICES);
        if (n * prompts.size() > MAX_SEQUENCES) {
            throw ApiError.invalid("a request may ask for at most " + MAX_SEQUENCES + " sequences (prompts × n), got "
                    + n * prompts.size(), "n");
        }
        Long seed = f.has("seed") ? f.integer("seed", 0, Long.MIN_VALUE, Long.MAX_VALUE) : null;
        boolean stream = f.bool("stream", false);
        boolean includeUsage = false;
        if (f.has("stream_options")) {
            if (!stream) {
                throw ApiError.invalid("stream_options is only allowed when stream is true", "stream_options");
            }
            if (!(f.raw("stream_options") instanceof Map<?, ?> options)) {
                throw ApiError.invalid("stream_options must be an object", "stream_options");
            }
            Object usage = options.get("include_usage");
            if (usage != null && !(usage instanceof Boolean)) {
                throw ApiError.invalid("stream_options.include_usage must be a boolean", "stream_options");
            }
            includeUsage = Boolean.TRUE.equals(usage);
        }
        GenerationParams params = new GenerationParams(temperature, topP, topK, maxTokens, f.stop(), logprobs, seed,
                stopTokens, scorePrompt);
        return new GenerationRequest(chat, prompts, texts, params, n, stream, includeUsage, echo);
    }

    private static void checkModel(Fields f, ServedModel served) {
        String model = f.string("model", served.id());
        if (!model.equals(served.id())) {
            throw new ApiError(404, "invalid_request_error", "The model '" + model + "' does not exist; this "
                    + "server serves '" + served.id() + "'", "model", "model_not_found");
        }
    }

    private static ChatMessage message(Object item, int index) {
        String where = "messages[" + index + "]";
        if (!(item instanceof Map<?, ?> map)) {
            throw ApiError.invalid(where + " must be an object with role and content", "messages");
        }
        for (Object key : map.keySet()) {
            if (!Set.of("role", "content", "name").contains(key)) {
                throw ApiError.invalid(where + " has an unsupported field " + key, "messages");
            }
        }
        if (!(map.get("role") instanceof String role)) {
            throw ApiError.invalid(where + ".role must be a string", "messages");
        }
        if (role.equals("developer")) {
            role = "system";                      // OpenAI's newer name for the system role
        }
        if (!ChatMessage.ROLES.contains(role)) {
            throw ApiError.invalid(where + ".role must be system, developer, user or assistant, got '" + role + "'",
                    "messages");
        }
        Object content = map.get("content");
        String text;
        if (content instanceof String s) {
            text = s;
        } else if (content instanceof List<?> parts) {
            StringBuilder joined = new StringBuilder();
            for (Object part : parts) {
                if (!(part instanceof Map<?, ?> p) || !"text".equals(p.get("type"))
                        || !(p.get("text") instanceof String s)) {
                    throw ApiError.invalid(where + ".content: only text parts ({\"type\": \"text\", \"text\": …}) "
                            + "are supported", "messages");
                }
                joined.append(s);
            }
            text = joined.toString();
        } else {
            throw ApiError.invalid(where + ".content must be a string or an array of text parts", "messages");
        }
        try {
            return new ChatMessage(role, text);
        } catch (KilnException e) {
            throw ApiError.invalid(where + ": " + e.getMessage(), "messages");
        }
    }

    private static void addText(String text, ServedModel served, List<int[]> prompts, List<String> texts) {
        int[] ids = served.encodePrompt(text);
        if (ids.length == 0) {
            ids = served.endOfText().map(eot -> new int[] {eot}).orElseThrow(() -> ApiError.invalid(
                    "the prompt is empty and the vocabulary has no " + ServedModel.END_OF_TEXT + " to start from",
                    "prompt"));
        }
        prompts.add(ids);
        texts.add(text);
    }

    private static void addIds(List<?> list, ServedModel served, List<int[]> prompts, List<String> texts) {
        int vocab = served.model().vocabSize();
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!(list.get(i) instanceof Long id) || id < 0 || id >= vocab) {
                throw ApiError.invalid("prompt token " + Fields.describe(list.get(i)) + " at " + i + " is not an id "
                        + "in this model's vocabulary of " + vocab, "prompt");
            }
            ids[i] = (int) (long) id;
        }
        prompts.add(ids);
        texts.add(served.tokenizer().decode(ids));
    }

    private static void checkLengths(List<int[]> prompts, int maxLength, String param) {
        for (int[] ids : prompts) {
            if (ids.length >= maxLength) {
                throw ApiError.invalid("this model's maximum context length is " + maxLength + " tokens, and the "
                        + param + " has " + ids.length + " (at least one must remain for the answer)", param,
                        "context_length_exceeded");
            }
        }
    }
}
