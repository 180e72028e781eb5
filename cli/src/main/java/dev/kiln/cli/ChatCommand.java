package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.chat.ChatSession;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.Sampling;
import dev.kiln.trainer.TokenTextStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kiln chat}: a conversation in the terminal with a checkpoint tuned to chat, through a {@link ChatSession}:
 * turns rendered by the checkpoint's chat template, the reply streamed until the end-of-turn token, the conversation
 * kept in the decoder's cache between turns, the oldest turns dropped when it outgrows the context. {@code /reset}
 * starts over; Ctrl-D ends.
 */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Chat with a checkpoint tuned on conversations (its chat template renders the "
        + "turns). /reset starts over, Ctrl-D ends.")
final class ChatCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--system", paramLabel = "TEXT", description = "A system message that opens the conversation.")
    String system;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "Tokens per reply at most.")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.7", description = "0 is greedy.")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "50", description = "0 keeps every token.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1.0")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1337")
    long seed;

    @Override
    public Integer call() throws IOException {
        if (maxTokens < 1) {
            throw new KilnException("--max-tokens must be at least 1, got " + maxTokens);
        }
        try (LoadedModel loaded = model.load(kiln)) {
            ChatTemplate template = loaded.checkpoint().chatTemplate().orElseThrow(() -> new KilnException(
                    "checkpoint " + loaded.checkpoint().directory() + " has no chat template (no chat_template in "
                    + "tokenizer_config.json), so it was not tuned to chat; fine-tune it with the sft task, or use "
                    + "kiln generate --prompt"));
            ChatSession session = new ChatSession(loaded.model(), loaded.tokenizer(), template, system);
            Sampling sampling = new Sampling(temperature, topK, topP, seed, maxTokens, Set.of());
            SplittableRandom random = new SplittableRandom(seed);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            kiln.out.println("chatting with " + loaded.checkpoint().directory() + " (" + template.id()
                    + " template; /reset starts over, Ctrl-D ends)");
            while (true) {
                kiln.out.print("> ");
                kiln.out.flush();
                String line = in.readLine();
                if (line == null) {
                    kiln.out.println();
                    return 0;
                }
                if (line.isBlank()) {
                    continue;
                }
                if (line.strip().equals("/reset")) {
                    session.reset();
                    kiln.out.println("(conversation cleared)");
                    continue;
                }
                TokenTextStream text = new TokenTextStream(loaded.tokenizer());
                ChatSession.Reply reply = session.reply(line, sampling, random, token -> {
                    kiln.out.print(text.accept(token));
                    kiln.out.flush();
                });
                kiln.out.println(text.flush());
                reply.notes().forEach(note -> kiln.out.println("(" + note + ")"));
            }
        }
    }
}
