package dev.kiln.api.chat;

import dev.kiln.api.KilnException;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The chat templates Kiln renders natively, each with the Jinja text Hugging Face keeps as {@code chat_template} in
 * {@code tokenizer_config.json}, so that a checkpoint carries its template the way transformers' do and training,
 * generation, {@code kiln chat} and {@code kiln serve} render prompts identically. Kiln does not evaluate Jinja: it
 * recognises these texts and names any other it finds.
 */
public enum ChatTemplate {
    /** ChatML: {@code <|im_start|>{role}\n{content}<|im_end|>\n}; generation prompt {@code <|im_start|>assistant\n}. */
    CHATML("chatml", "<|im_end|>", List.of("<|im_start|>", "<|im_end|>"),
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
            + "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
            + "{% endif %}"),
    /**
     * The plain Alpaca prompt: a system text, {@code ### Instruction:\n{user}\n\n}, then {@code ### Response:\n}
     * and the answer closed by {@code <|endoftext|>}.
     */
    ALPACA("alpaca", "<|endoftext|>", List.of("<|endoftext|>"),
            "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
            + "{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
            + "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + "
            + "'\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}");

    /**
     * A piece of rendered text: template text (which may hold the template's special tokens and is encoded allowing
     * them) or message content (encoded as plain text, so no message can produce a special token), and whether its
     * tokens are scored under answer-only loss.
     */
    public record Segment(String text, boolean template, boolean trained) {
    }

    private final String id;
    private final String stopToken;
    private final List<String> specialTokens;
    private final String jinja;

    ChatTemplate(String id, String stopToken, List<String> specialTokens, String jinja) {
        this.id = id;
        this.stopToken = stopToken;
        this.specialTokens = specialTokens;
        this.jinja = jinja;
    }

    public String id() {
        return id;
    }

    /** The token that ends an assistant turn: generation stops there. */
    public String stopToken() {
        return stopToken;
    }

    /** The special tokens the template writes; the vocabulary must have them. */
    public List<String> specialTokens() {
        return specialTokens;
    }

    /** The template as Hugging Face's Jinja text. */
    public String jinja() {
        return jinja;
    }

    /** The template named {@code chatml} or {@code alpaca}. */
    public static ChatTemplate named(String name) {
        for (ChatTemplate t : values()) {
            if (t.id.equals(name.trim().toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        throw new KilnException("unknown chat template '" + name + "'; Kiln renders chatml and alpaca");
    }

    /**
     * The template whose Jinja text this is (compared without whitespace outside quotes mattering), or an error that
     * names the template found, since Kiln renders only the ones it knows.
     */
    public static ChatTemplate fromJinja(String text) {
        String wanted = squeeze(text);
        for (ChatTemplate t : values()) {
            if (squeeze(t.jinja).equals(wanted)) {
                return t;
            }
        }
        String start = text.strip();
        throw new KilnException("chat_template \"" + (start.length() > 80 ? start.substring(0, 80) + "…" : start)
                + "\" is not one Kiln renders (it renders chatml and alpaca natively and does not run Jinja)");
    }

    private static String squeeze(String jinja) {
        return jinja.replaceAll("\\s+", "").replace("\"", "'");
    }

    /**
     * The conversation as segments; with {@code generationPrompt} the text that asks for the next assistant turn
     * follows. ChatML scores an assistant turn's content and its {@code <|im_end|>}; Alpaca its content and EOS.
     */
    public List<Segment> render(List<ChatMessage> messages, boolean generationPrompt) {
        List<Segment> out = new ArrayList<>();
        for (ChatMessage m : messages) {
            boolean trained = m.trained();
            switch (this) {
                case CHATML -> {
                    out.add(new Segment("<|im_start|>" + m.role() + "\n", true, false));
                    out.add(new Segment(m.content(), false, trained));
                    out.add(new Segment("<|im_end|>", true, trained));
                    out.add(new Segment("\n", true, false));
                }
                case ALPACA -> {
                    switch (m.role()) {
                        case "system" -> out.add(new Segment(m.content() + "\n\n", false, false));
                        case "user" -> {
                            out.add(new Segment("### Instruction:\n", true, false));
                            out.add(new Segment(m.content() + "\n\n", false, false));
                        }
                        default -> {
                            out.add(new Segment("### Response:\n", true, false));
                            out.add(new Segment(m.content(), false, trained));
                            out.add(new Segment(stopToken, true, trained));
                            out.add(new Segment("\n\n", true, false));
                        }
                    }
                }
            }
        }
        if (generationPrompt) {
            out.add(new Segment(this == CHATML ? "<|im_start|>assistant\n" : "### Response:\n", true, false));
        }
        return out;
    }

    /** A conversation's token ids, and for each whether it is scored under answer-only loss. */
    public record Encoded(int[] ids, boolean[] trained) {
    }

    /**
     * Encodes the conversation: template text allowing the template's special tokens, message content as plain text.
     * A vocabulary without the template's special tokens is an error that says how to add them.
     */
    public Encoded encode(Tokenizer tokenizer, List<ChatMessage> messages, boolean generationPrompt) {
        requireTokens(tokenizer);
        Set<String> allowed = Set.copyOf(specialTokens);
        List<int[]> pieces = new ArrayList<>();
        List<Boolean> flags = new ArrayList<>();
        int total = 0;
        for (Segment segment : render(messages, generationPrompt)) {
            int[] ids = segment.template() ? tokenizer.encode(segment.text(), allowed) : tokenizer.encode(segment.text());
            pieces.add(ids);
            flags.add(segment.trained());
            total += ids.length;
        }
        int[] ids = new int[total];
        boolean[] trained = new boolean[total];
        int at = 0;
        for (int i = 0; i < pieces.size(); i++) {
            int[] piece = pieces.get(i);
            System.arraycopy(piece, 0, ids, at, piece.length);
            java.util.Arrays.fill(trained, at, at + piece.length, flags.get(i));
            at += piece.length;
        }
        return new Encoded(ids, trained);
    }

    /** The id of the stop token in this vocabulary. */
    public int stopTokenId(Tokenizer tokenizer) {
        requireTokens(tokenizer);
        return tokenizer.specialTokens().get(stopToken);
    }

    private void requireTokens(Tokenizer tokenizer) {
        for (String token : specialTokens) {
            if (!tokenizer.specialTokens().containsKey(token)) {
                throw new KilnException("the " + id + " chat template needs the special token " + token + ", which "
                        + "this vocabulary lacks (its special tokens: " + tokenizer.specialTokens().keySet() + "); the "
                        + "sft task adds the template's tokens to the vocabulary when it fine-tunes");
            }
        }
    }

    /** The rendered text, as the Jinja template would produce it. */
    public String text(List<ChatMessage> messages, boolean generationPrompt) {
        StringBuilder text = new StringBuilder();
        render(messages, generationPrompt).forEach(s -> text.append(s.text()));
        return text.toString();
    }
}
