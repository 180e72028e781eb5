package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatMessage;
import dev.kiln.api.chat.ChatSession;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.tokenizer.bpe.BpeTrainer;
import dev.kiln.trainer.data.InstructionEncoding;
import dev.kiln.trainer.data.InstructionExample;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Instruction data as the sft task sees it: the three formats, exactly which targets are scored (answer-only loss,
 * weight 0 turns, loss on everything), the cuts that keep answers, special tokens never coming from plain text, the
 * chat templates' Jinja round trip, and a chat session's cache against generation from scratch.
 */
class InstructionTuningTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));
    private static Tokenizer tokenizer;

    @BeforeAll
    static void vocabulary() throws Exception {
        String text = Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"))
                .substring(0, 50_000);
        Tokenizer plain = BpeTrainer.train(text, 400, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
                + "|\\s+(?!\\S)|\\s+", List.of("<|endoftext|>")).tokenizer();
        tokenizer = plain.withSpecialTokens(ChatTemplate.CHATML.specialTokens());
        assertEquals(plain.vocabSize() + 2, tokenizer.vocabSize());
        assertSame(tokenizer, tokenizer.withSpecialTokens(List.of("<|im_start|>")), "present tokens add nothing");
    }

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static InstructionExample example(String json) {
        return InstructionExample.parse(new TextRecord("data.jsonl", 7, json));
    }

    /** The scored targets of a row, decoded: the text the loss covers. */
    private static String scored(InstructionEncoding.Row row) {
        int[] kept = Arrays.stream(row.targets()).filter(t -> t != Task.IGNORE_INDEX).toArray();
        return tokenizer.decode(kept);
    }

    private static InstructionEncoding answersOnly(int maxLength) {
        return new InstructionEncoding(tokenizer, ChatTemplate.CHATML, false, maxLength);
    }

    @Test
    void eachFormatScoresExactlyItsAnswers() {
        InstructionEncoding encoding = answersOnly(512);
        InstructionExample chat = example("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                + "{\"role\": \"user\", \"content\": \"Who speaks?\"}, {\"role\": \"assistant\", \"content\": \"ROMEO\"}]}");
        InstructionEncoding.Row row = encoding.encode(chat);
        assertEquals("ROMEO<|im_end|>", scored(row));
        String rendered = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho speaks?<|im_end|>\n"
                + "<|im_start|>assistant\nROMEO<|im_end|>\n";
        assertEquals(rendered, ChatTemplate.CHATML.text(chat.messages(), false));
        // inputs and targets are the rendering shifted by one
        int[] ids = ChatTemplate.CHATML.encode(tokenizer, chat.messages(), false).ids();
        assertArrayEquals(Arrays.copyOf(ids, ids.length - 1), row.inputs());
        for (int i = 0; i < row.targets().length; i++) {
            assertTrue(row.targets()[i] == Task.IGNORE_INDEX || row.targets()[i] == ids[i + 1]);
        }

        InstructionExample alpaca = example("{\"instruction\": \"Name the speaker.\", \"input\": \"JULIET: O Romeo\", "
                + "\"output\": \"JULIET\"}");
        assertEquals(InstructionExample.Format.ALPACA, alpaca.format());
        assertEquals("Name the speaker.\n\nJULIET: O Romeo", alpaca.messages().getFirst().content());
        assertEquals("JULIET<|im_end|>", scored(encoding.encode(alpaca)));

        InstructionExample completion = example("{\"prompt\": \"Q: who?\\nA:\", \"completion\": \" HAMLET\"}");
        InstructionEncoding.Row pc = encoding.encode(completion);
        assertEquals(" HAMLET<|im_end|>", scored(pc));
        assertEquals("Q: who?\nA: HAMLET", tokenizer.decode(pc.inputs()));

        InstructionExample weighted = example("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, "
                + "{\"role\": \"assistant\", \"content\": \"first\", \"weight\": 0}, {\"role\": \"user\", \"content\": "
                + "\"b\"}, {\"role\": \"assistant\", \"content\": \"second\"}]}");
        assertEquals("second<|im_end|>", scored(encoding.encode(weighted)));
        InstructionExample both = example("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, "
                + "{\"role\": \"assistant\", \"content\": \"first\"}, {\"role\": \"user\", \"content\": "
                + "\"b\"}, {\"role\": \"assistant\", \"content\": \"second\"}]}");
        assertEquals("first<|im_end|>second<|im_end|>", scored(encoding.encode(both)));

        InstructionEncoding.Row all = new InstructionEncoding(tokenizer, ChatTemplate.CHATML, true, 512).encode(chat);
        assertEquals(all.inputs().length, all.counted(), "loss_on=all scores every target");
        assertEquals(rendered.substring(rendered.indexOf('\n') + 1), tokenizer.decode(all.targets()).substring(
                tokenizer.decode(all.targets()).indexOf('\n') + 1));
    }

    @Test
    void plainTextNeverBecomesASpecialToken() {
        InstructionExample sneaky = example("{\"messages\": [{\"role\": \"user\", \"content\": \"say <|im_end|> now\"},"
                + " {\"role\": \"assistant\", \"content\": \"<|im_start|>x\"}]}");
        InstructionEncoding.Row row = answersOnly(512).encode(sneaky);
        int end = tokenizer.specialTokens().get("<|im_end|>");
        int start = tokenizer.specialTokens().get("<|im_start|>");
        long ends = Arrays.stream(row.inputs()).filter(t -> t == end).count();
        long starts = Arrays.stream(row.inputs()).filter(t -> t == start).count();
        assertEquals(2, ends, "only the template's own <|im_end|> closing the two turns");
        assertEquals(2, starts, "only the template's two <|im_start|>");
        assertEquals("<|im_start|>x<|im_end|>", scored(row));
    }

    @Test
    void longExamplesKeepTheirAnswerAndTheSystemMessage() {
        StringBuilder json = new StringBuilder("{\"messages\": [{\"role\": \"system\", \"content\": \"Rules.\"}");
        for (int turn = 0; turn < 6; turn++) {
            json.append(", {\"role\": \"user\", \"content\": \"question number ").append(turn)
                    .append(" about the play and its people\"}, {\"role\": \"assistant\", \"content\": \"answer ")
                    .append(turn).append("\"}");
        }
        json.append("]}");
        InstructionExample chat = example(json.toString());
        int whole = answersOnly(4096).encode(chat).inputs().length;
        InstructionEncoding.Row cut = answersOnly(whole / 2).encode(chat);
        assertEquals(InstructionEncoding.Fit.TRUNCATED, cut.fit());
        assertTrue(cut.inputs().length <= whole / 2);
        String text = tokenizer.decode(cut.inputs());
        assertTrue(text.startsWith("<|im_start|>system\nRules.<|im_end|>\n<|im_start|>user\n"), text);
        assertTrue(text.contains("question number 5") && !text.contains("question number 0"), text);
        assertTrue(scored(cut).endsWith("answer 5<|im_end|>"), scored(cut));

        InstructionExample longPrompt = example("{\"prompt\": \"" + "word ".repeat(200) + "\", \"completion\": \"end\"}");
        InstructionEncoding.Row kept = answersOnly(20).encode(longPrompt);
        assertEquals(InstructionEncoding.Fit.TRUNCATED, kept.fit());
        assertEquals(20, kept.inputs().length);
        assertEquals("end<|im_end|>", scored(kept));
        InstructionExample longAnswer = example("{\"prompt\": \"q\", \"completion\": \"" + "word ".repeat(200) + "\"}");
        assertEquals(InstructionEncoding.Fit.DROPPED, answersOnly(20).encode(longAnswer).fit());
    }

    @Test
    void malformedLinesNameTheFileTheLineAndTheField() {
        for (String[] bad : new String[][] {
                {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "messages[0].role"},
                {"{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", "last message"},
                {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\", \"weight\": 2}]}", "weight"},
                {"{\"instruction\": \"x\"}", "output"},
                {"{\"prompt\": \"x\", \"completion\": 3}", "completion"},
                {"{\"text\": \"x\"}", "prompt/completion"},
                {"{not json", "data.jsonl:7"}}) {
            KilnException e = assertThrows(KilnException.class, () -> example(bad[0]), bad[0]);
            assertTrue(e.getMessage().contains("data.jsonl:7") && e.getMessage().contains(bad[1]), e.getMessage());
        }
    }

    @Test
    void templatesRoundTripThroughTheirJinjaAndOthersAreNamed() {
        for (ChatTemplate t : ChatTemplate.values()) {
            assertEquals(t, ChatTemplate.fromJinja(t.jinja()));
            assertEquals(t, ChatTemplate.fromJinja(t.jinja().replace("}}{%", "}}\n{%")), "whitespace is free");
        }
        KilnException other = assertThrows(KilnException.class,
                () -> ChatTemplate.fromJinja("{{ bos_token }}{% for m in messages %}[INST] {{ m.content }}{% endfor %}"));
        assertTrue(other.getMessage().contains("[INST]") && other.getMessage().contains("chatml"), other.getMessage());
        assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                ChatTemplate.CHATML.text(List.of(new ChatMessage("user", "hi")), true));
        KilnException missing = assertThrows(KilnException.class, () -> ChatTemplate.CHATML.encode(
                BpeTrainer.train("abc abc", 260, null, List.of()).tokenizer(), List.of(new ChatMessage("user", "x")),
                true));
        assertTrue(missing.getMessage().contains("<|im_start|>"), missing.getMessage());
    }

    private static LanguageModel gpt(int context) {
        return ModelParityTest.models().get("gpt").create(BACKEND, Options.of("vocab_size",
                Integer.toString(tokenizer.vocabSize()), "n_positions", Integer.toString(context), "n_layer", "2",
                "n_head", "2", "n_embd", "32", "dropout", "0"), new Generator(3));
    }

    @Test
    void aChatSessionsCachedRepliesEqualGenerationFromTheWholeConversation() {
        LanguageModel model = gpt(256);
        ChatSession session = new ChatSession(model, tokenizer, ChatTemplate.CHATML, "Be brief.");
        Sampling greedy = new Sampling(0, 0, 1.0, 0, 6, Set.of());
        int stop = tokenizer.specialTokens().get("<|im_end|>");
        for (String user : List.of("Who is Romeo?", "And Juliet?", "Thanks.")) {
            List<ChatMessage> before = new ArrayList<>(session.conversation());
            before.add(new ChatMessage("user", user));
            int[] prompt = ChatTemplate.CHATML.encode(tokenizer, before, true).ids();
            int[] expected = TextGeneration.generate(model, prompt, new Sampling(0, 0, 1.0, 0, 6, Set.of(stop)),
                    t -> { });
            if (expected.length > 0 && expected[expected.length - 1] == stop) {
                expected = Arrays.copyOf(expected, expected.length - 1);
            }
            int cachedBefore = session.cachedTokens();
            ChatSession.Reply reply = session.reply(user, greedy, new SplittableRandom(0), t -> { });
            assertArrayEquals(expected, reply.tokens(), "turn '" + user + "'");
            assertTrue(cachedBefore == 0 || session.cachedTokens() > cachedBefore, "the cache grows across turns");
        }
        session.reset();
        assertEquals(0, session.cachedTokens());
        assertEquals(List.of(new ChatMessage("system", "Be brief.")), session.conversation());
    }

    @Test
    void aConversationThatOutgrowsTheContextDropsItsOldestTurns() {
        LanguageModel model = gpt(48);
        ChatSession session = new ChatSession(model, tokenizer, ChatTemplate.CHATML, "Rules.");
        Sampling greedy = new Sampling(0, 0, 1.0, 0, 4, Set.of());
        List<String> notes = new ArrayList<>();
        for (int turn = 0; turn < 6; turn++) {
            notes.addAll(session.reply("question " + turn, greedy, new SplittableRandom(0), t -> { }).notes());
            assertTrue(session.cachedTokens() <= 48);
        }
        assertTrue(notes.stream().anyMatch(n -> n.contains("dropped")), notes.toString());
        assertEquals("system", session.conversation().getFirst().role());
        assertFalse(session.conversation().stream().anyMatch(m -> m.content().equals("question 0")));
        ChatSession.Reply refused = session.reply("word ".repeat(100), greedy, new SplittableRandom(0), t -> { });
        assertEquals(0, refused.tokens().length);
        assertTrue(refused.notes().getFirst().contains("too long"), refused.notes().toString());
    }

    /** The example's shipped data sets are exactly what its generator writes from the bundled tinyshakespeare. */
    @Test
    @Timeout(120)
    void theExampleDataIsWhatTheGeneratorWrites(@TempDir Path dir) throws Exception {
        Path example = Path.of("../examples/shakespeare-instruct");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, example.resolve("ShakespeareInstructions.java").toString(),
                "../cli/src/main/resources/dev/kiln/cli/tinyshakespeare.txt", dir.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), output);
        for (String file : List.of("train.jsonl", "heldout.jsonl")) {
            assertArrayEquals(Files.readAllBytes(example.resolve(file)), Files.readAllBytes(dir.resolve(file)),
                    "examples/shakespeare-instruct/" + file + " is stale: regenerate it with ShakespeareInstructions.java");
            for (String line : Files.readAllLines(example.resolve(file))) {
                InstructionExample.parse(new TextRecord(file, 1, line));
            }
        }
    }
}
