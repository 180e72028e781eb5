package dev.kiln.api.chat;

import dev.kiln.api.model.Decoder;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * A conversation with a model, kept in its decoder's cache between turns: each turn feeds only what the cache lacks
 * (the previous reply's end-of-turn tokens and the new user turn), then the reply is sampled until the template's
 * end-of-turn token. When the conversation outgrows the model's context, the oldest turns are dropped (a system
 * message is kept) and the cache is rebuilt from the rendered remainder.
 */
public final class ChatSession {
    /** A reply: its text and tokens, whether it ended at the end-of-turn token (else it was cut), and notes. */
    public record Reply(String text, int[] tokens, boolean ended, List<String> notes) {
    }

    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final String system;
    private final int stop;
    private final List<ChatMessage> conversation = new ArrayList<>();
    private final List<Integer> cached = new ArrayList<>();
    private Decoder decoder;
    private float[] logits;

    public ChatSession(LanguageModel model, Tokenizer tokenizer, ChatTemplate template, String system) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.template = template;
        this.system = system == null || system.isBlank() ? null : system;
        this.stop = template.stopTokenId(tokenizer);
        reset();
    }

    /** Forgets the conversation (the system message stays) and the cache. */
    public void reset() {
        conversation.clear();
        if (system != null) {
            conversation.add(new ChatMessage("system", system));
        }
        cached.clear();
        decoder = null;
    }

    /** The conversation so far, as rendered to the model. */
    public List<ChatMessage> conversation() {
        return List.copyOf(conversation);
    }

    /** How many tokens the cache holds. */
    public int cachedTokens() {
        return cached.size();
    }

    /**
     * Answers {@code text}: at most {@code sampling.maxTokens()} tokens, each handed to {@code onToken} as it is
     * chosen. A message that alone does not fit the context is refused (the reply is empty, with a note).
     */
    public Reply reply(String text, Sampling sampling, SplittableRandom random, IntConsumer onToken) {
        List<String> notes = new ArrayList<>();
        int window = model.maxContext();
        int maxTokens = sampling.maxTokens();
        ChatMessage user = new ChatMessage("user", text);
        if (window != Integer.MAX_VALUE) {
            List<ChatMessage> alone = new ArrayList<>(system == null ? List.of() : List.of(conversation.getFirst()));
            alone.add(user);
            if (template.encode(tokenizer, alone, true).ids().length + 1 > window) {
                notes.add("that message is too long for the model's context of " + window + " tokens");
                return new Reply("", new int[0], false, notes);
            }
        }
        int[] turn = decoder == null ? null : concat(closing(), template.encode(tokenizer, List.of(user), true).ids());
        conversation.add(user);
        if (turn == null) {
            turn = template.encode(tokenizer, conversation, true).ids();
        }
        if (window != Integer.MAX_VALUE && cached.size() + turn.length + maxTokens > window) {
            int dropped = 0;
            while (earlierTurns() > 0
                    && template.encode(tokenizer, conversation, true).ids().length + maxTokens > window) {
                conversation.remove(system != null ? 1 : 0);
                dropped++;
            }
            turn = template.encode(tokenizer, conversation, true).ids();
            if (dropped > 0) {
                notes.add("the conversation outgrew the context of " + window + " tokens: dropped the " + dropped
                        + " earliest turn" + (dropped == 1 ? "" : "s") + " and rebuilt the cache");
            }
            decoder = null;
            cached.clear();
        }
        Sampling unbounded = new Sampling(sampling.temperature(), sampling.topK(), sampling.topP(), sampling.seed(),
                maxTokens, Set.of());
        List<Integer> answer = new ArrayList<>();
        boolean ended = false;
        boolean wasTraining = model.isTraining();
        model.eval();
        try (GradMode.NoGrad off = GradMode.noGrad()) {
            if (decoder == null) {
                decoder = model.decoder(1);
            }
            feed(turn);
            for (int produced = 0; produced < maxTokens; produced++) {
                if (window != Integer.MAX_VALUE && cached.size() >= window) {
                    break;
                }
                int token = TextGeneration.choose(logits, unbounded, random);
                if (token == stop) {
                    ended = true;
                    break;
                }
                answer.add(token);
                onToken.accept(token);
                feed(new int[] {token});
            }
        } finally {
            model.train(wasTraining);
        }
        int[] tokens = answer.stream().mapToInt(Integer::intValue).toArray();
        String reply = tokenizer.decode(tokens);
        conversation.add(new ChatMessage("assistant", reply));
        if (!ended) {
            notes.add("reply cut at " + tokens.length + " tokens");
        }
        return new Reply(reply, tokens, ended, notes);
    }

    /** The tokens that close an assistant turn after its content: the end-of-turn token and what follows it. */
    private int[] closing() {
        List<Integer> out = new ArrayList<>();
        out.add(stop);
        boolean afterStop = false;
        for (ChatTemplate.Segment segment : template.render(List.of(new ChatMessage("assistant", "")), false)) {
            if (afterStop) {
                for (int id : tokenizer.encode(segment.text(), Set.copyOf(template.specialTokens()))) {
                    out.add(id);
                }
            }
            afterStop |= segment.text().equals(template.stopToken());
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private int earlierTurns() {
        return conversation.size() - (system != null ? 1 : 0) - 1;
    }

    private void feed(int[] ids) {
        if (ids.length == 0) {
            return;
        }
        try (MemoryScope scope = MemoryScope.open()) {
            logits = decoder.next(Tensor.ofInts(model.parameters().getFirst().backend(), ids, 1, ids.length))
                    .toFloatArray();
        }
        for (int id : ids) {
            cached.add(id);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
