package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.chat.ChatMessage;
import dev.kiln.api.task.TextRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One instruction-tuning example from a JSONL line, in any of the three formats people have: Alpaca
 * ({@code instruction}, optional {@code input}, {@code output}), chat ({@code messages}: role, content and an optional
 * {@code weight} 0|1, as in OpenAI fine-tuning files) and prompt/completion ({@code prompt}, {@code completion}).
 * Alpaca and chat become a conversation for the chat template; prompt/completion stays raw text, as TRL treats it.
 *
 * @param format     which of the three the line was
 * @param messages   the conversation (alpaca, chat); empty for prompt/completion
 * @param prompt     the raw prompt (prompt/completion)
 * @param completion the raw completion (prompt/completion)
 */
public record InstructionExample(Format format, List<ChatMessage> messages, String prompt, String completion) {
    public enum Format {
        ALPACA("alpaca"), CHAT("chat"), PROMPT_COMPLETION("prompt/completion");

        private final String label;

        Format(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** Reads one line; a malformed one is an error naming the file, the line and the field. */
    public static InstructionExample parse(TextRecord record) {
        Map<String, Object> json = record.jsonObject();
        if (json.containsKey("messages")) {
            return chat(record, json);
        }
        if (json.containsKey("instruction")) {
            String instruction = record.stringField(json, "instruction");
            String input = json.get("input") == null ? "" : record.stringField(json, "input");
            String output = record.stringField(json, "output");
            String user = input.isBlank() ? instruction : instruction + "\n\n" + input;
            return new InstructionExample(Format.ALPACA, List.of(new ChatMessage("user", user),
                    new ChatMessage("assistant", output)), "", "");
        }
        if (json.containsKey("prompt")) {
            return new InstructionExample(Format.PROMPT_COMPLETION, List.of(), record.stringField(json, "prompt"),
                    record.stringField(json, "completion"));
        }
        throw new KilnException(record.where() + ": not an instruction example (fields here: " + json.keySet()
                + "); the sft task reads JSONL lines with messages (chat), instruction/input/output (Alpaca) or "
                + "prompt/completion");
    }

    private static InstructionExample chat(TextRecord record, Map<String, Object> json) {
        if (!(json.get("messages") instanceof List<?> list) || list.isEmpty()) {
            throw new KilnException(record.where() + ": field 'messages' must be a non-empty array of "
                    + "{\"role\", \"content\"} objects");
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String field = "messages[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> raw)) {
                throw new KilnException(record.where() + ": field '" + field + "' must be an object with role and content");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> m = (Map<String, Object>) raw;
            if (!(m.get("role") instanceof String role) || !ChatMessage.ROLES.contains(role)) {
                throw new KilnException(record.where() + ": field '" + field + ".role' must be system, user or "
                        + "assistant, got " + m.get("role"));
            }
            if (!(m.get("content") instanceof String content)) {
                throw new KilnException(record.where() + ": field '" + field + ".content' "
                        + (m.get("content") == null ? "is missing" : "must be a string"));
            }
            int weight = 1;
            if (m.containsKey("weight")) {
                if (!(m.get("weight") instanceof Number n) || (n.doubleValue() != 0 && n.doubleValue() != 1)) {
                    throw new KilnException(record.where() + ": field '" + field + ".weight' must be 0 or 1, got "
                            + m.get("weight"));
                }
                weight = n.intValue();
            }
            messages.add(new ChatMessage(role, content, weight));
        }
        if (!messages.getLast().role().equals("assistant")) {
            throw new KilnException(record.where() + ": the last message must be the assistant's (the answer to "
                    + "train on), got " + messages.getLast().role());
        }
        return new InstructionExample(Format.CHAT, List.copyOf(messages), "", "");
    }

    /** The conversation without its final answer (what a model is asked), for evaluation by generation. */
    public List<ChatMessage> question() {
        return messages.subList(0, messages.size() - 1);
    }

    /** The final answer's text: the last assistant message, or the completion. */
    public String answer() {
        return format == Format.PROMPT_COMPLETION ? completion : messages.getLast().content();
    }
}
