package dev.kiln.trainer.data;

import dev.kiln.api.KilnException;
import dev.kiln.api.chat.ChatMessage;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.task.Task;
import dev.kiln.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Instruction examples as training rows: rendered through the chat template (prompt/completion as raw text closed by
 * the template's stop token), labelled for answer-only loss (targets {@value Task#IGNORE_INDEX} except on the answers;
 * an assistant turn with weight 0 is masked too) or for loss on every token, and cut to {@code maxLength} inputs:
 * an example that is too long first loses whole earlier turns (the system message stays), then its oldest prompt
 * tokens; one whose answer alone does not fit is dropped.
 *
 * @param lossOnAll score every token (TRL's completion_only_loss=False), for comparison
 */
public record InstructionEncoding(Tokenizer tokenizer, ChatTemplate template, boolean lossOnAll, int maxLength) {
    /** What happened to an example. */
    public enum Fit { WHOLE, TRUNCATED, DROPPED }

    /** One training row: inputs and targets of equal length (inputs[i] predicts targets[i]). */
    public record Row(int[] inputs, int[] targets, Fit fit) {
        public long counted() {
            return Arrays.stream(targets).filter(t -> t != Task.IGNORE_INDEX).count();
        }
    }

    public InstructionEncoding {
        if (maxLength < 2) {
            throw new KilnException("task.max_length must be at least 2, got " + maxLength);
        }
    }

    /** The example as a row, cut to fit, or a row with {@link Fit#DROPPED} (and no tokens). */
    public Row encode(InstructionExample example) {
        ChatTemplate.Encoded encoded = tokens(example, example.messages());
        Fit fit = Fit.WHOLE;
        if (example.format() != InstructionExample.Format.PROMPT_COMPLETION) {
            List<ChatMessage> messages = new ArrayList<>(example.messages());
            while (encoded.ids().length > maxLength + 1 && earlierTurns(messages) > 0) {
                int first = messages.getFirst().role().equals("system") ? 1 : 0;
                messages.remove(first);
                while (first < messages.size() - 1 && !messages.get(first).role().equals("user")) {
                    messages.remove(first);                        // a conversation resumes with a user turn
                }
                encoded = tokens(example, messages);
                fit = Fit.TRUNCATED;
            }
        }
        int[] ids = encoded.ids();
        boolean[] trained = encoded.trained();
        if (ids.length > maxLength + 1) {
            int answerStart = ids.length;
            while (answerStart > 0 && trained[answerStart - 1]) {
                answerStart--;
            }
            if (answerStart == ids.length) {
                answerStart = ids.length - 1;                     // nothing scored: keep the newest tokens
            }
            int keepFrom = ids.length - (maxLength + 1);
            if (keepFrom >= answerStart) {
                return new Row(new int[0], new int[0], Fit.DROPPED);   // the answer and one token before it do not fit
            }
            ids = Arrays.copyOfRange(ids, keepFrom, ids.length);
            trained = Arrays.copyOfRange(trained, keepFrom, trained.length);
            fit = Fit.TRUNCATED;
        }
        int n = ids.length - 1;
        int[] inputs = Arrays.copyOf(ids, n);
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) {
            targets[i] = lossOnAll || trained[i + 1] ? ids[i + 1] : Task.IGNORE_INDEX;
        }
        return new Row(inputs, targets, fit);
    }

    /** The prompt a model answers at evaluation: the question with the generation prompt, or the raw prompt. */
    public int[] prompt(InstructionExample example) {
        if (example.format() == InstructionExample.Format.PROMPT_COMPLETION) {
            return tokenizer.encode(example.prompt());
        }
        return template.encode(tokenizer, example.question(), true).ids();
    }

    private ChatTemplate.Encoded tokens(InstructionExample example, List<ChatMessage> messages) {
        if (example.format() != InstructionExample.Format.PROMPT_COMPLETION) {
            return template.encode(tokenizer, messages, false);
        }
        int[] prompt = tokenizer.encode(example.prompt());
        int[] completion = tokenizer.encode(example.completion());
        int[] ids = Arrays.copyOf(prompt, prompt.length + completion.length + 1);
        System.arraycopy(completion, 0, ids, prompt.length, completion.length);
        ids[ids.length - 1] = template.stopTokenId(tokenizer);
        boolean[] trained = new boolean[ids.length];
        Arrays.fill(trained, prompt.length, ids.length, true);
        return new ChatTemplate.Encoded(ids, trained);
    }

    /** Messages before the final user question and answer, not counting a leading system message. */
    private static int earlierTurns(List<ChatMessage> messages) {
        int system = messages.getFirst().role().equals("system") ? 1 : 0;
        return Math.max(0, messages.size() - system - 2);
    }
}
