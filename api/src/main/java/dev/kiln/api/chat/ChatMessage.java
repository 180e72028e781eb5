package dev.kiln.api.chat;

import dev.kiln.api.KilnException;
import java.util.Set;

/**
 * One turn of a conversation, as in OpenAI's chat and fine-tuning formats.
 *
 * @param role    {@code system}, {@code user} or {@code assistant}
 * @param weight  for an assistant turn in training data: 1 to train on it, 0 to mask it (OpenAI's fine-tuning
 *                {@code weight}); ignored for other roles
 */
public record ChatMessage(String role, String content, int weight) {
    public static final Set<String> ROLES = Set.of("system", "user", "assistant");

    public ChatMessage {
        if (!ROLES.contains(role)) {
            throw new KilnException("chat message role '" + role + "' is not one of system, user, assistant");
        }
        if (weight != 0 && weight != 1) {
            throw new KilnException("chat message weight must be 0 or 1, got " + weight);
        }
    }

    public ChatMessage(String role, String content) {
        this(role, content, 1);
    }

    /** Whether this turn's tokens are scored under answer-only loss. */
    public boolean trained() {
        return role.equals("assistant") && weight == 1;
    }
}
