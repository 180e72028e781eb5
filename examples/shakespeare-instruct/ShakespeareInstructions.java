import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Writes the instruction data set of this example from tinyshakespeare: each example shows a passage of three
 * consecutive speeches (at most two lines each) and asks who speaks first, who speaks last, who says a given line, or
 * how many lines a speaker has in the passage; the answer is in the passage. The examples come in the three formats
 * the sft task reads: chat (60 %, some with a system message), Alpaca (25 %) and prompt/completion (15 %). Training
 * passages come from the first 90 % of the play text, the held-out ones from the last 10 %, which the base model's
 * pre-training held out too.
 *
 * <p>{@code java examples/shakespeare-instruct/ShakespeareInstructions.java cli/src/main/resources/dev/kiln/cli/tinyshakespeare.txt examples/shakespeare-instruct}
 */
public final class ShakespeareInstructions {
    static final int TRAIN = 3000;
    static final int HELD_OUT = 200;
    static final long SEED = 20261202L;

    record Speech(String speaker, List<String> lines) {
    }

    public static void main(String[] args) throws IOException {
        String text = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
        Path folder = Path.of(args[1]);
        int split = (int) (text.length() * 0.9);
        List<Speech> early = speeches(text.substring(0, split));
        List<Speech> late = speeches(text.substring(split));
        Files.writeString(folder.resolve("train.jsonl"), String.join("", examples(early, TRAIN, new Random(SEED))),
                StandardCharsets.UTF_8);
        Files.writeString(folder.resolve("heldout.jsonl"),
                String.join("", examples(late, HELD_OUT, new Random(SEED + 1))), StandardCharsets.UTF_8);
    }

    /** Speeches: a "Name:" line, then its lines up to a blank line; a fragment cut by the split is skipped. */
    static List<Speech> speeches(String text) {
        List<Speech> out = new ArrayList<>();
        for (String block : text.split("\n\n")) {
            String[] lines = block.strip().split("\n");
            if (lines.length < 2 || !lines[0].endsWith(":") || lines[0].length() > 30) {
                continue;
            }
            List<String> body = new ArrayList<>();
            for (int i = 1; i < lines.length && body.size() < 2; i++) {
                body.add(lines[i].strip());
            }
            out.add(new Speech(lines[0].substring(0, lines[0].length() - 1), body));
        }
        return out;
    }

    static List<String> examples(List<Speech> speeches, int count, Random random) {
        List<String> out = new ArrayList<>();
        while (out.size() < count) {
            int start = random.nextInt(speeches.size() - 3);
            List<Speech> passage = speeches.subList(start, start + 3);
            StringBuilder shown = new StringBuilder();
            for (Speech s : passage) {
                shown.append(s.speaker()).append(":\n").append(String.join("\n", s.lines())).append("\n\n");
            }
            String[] qa = question(passage, random);
            out.add(line(qa[0], shown.toString().strip(), qa[1], random));
        }
        return out;
    }

    static String[] question(List<Speech> passage, Random random) {
        switch (random.nextInt(4)) {
            case 0:
                return new String[] {"Who speaks first in this passage?", passage.get(0).speaker()};
            case 1:
                return new String[] {"Who speaks last in this passage?", passage.get(2).speaker()};
            case 2: {
                Speech s = passage.get(random.nextInt(3));
                String said = s.lines().get(random.nextInt(s.lines().size()));
                return new String[] {"Who says \"" + said + "\"?", s.speaker()};
            }
            default: {
                String speaker = passage.get(random.nextInt(3)).speaker();
                int lines = passage.stream().filter(s -> s.speaker().equals(speaker)).mapToInt(s -> s.lines().size())
                        .sum();
                return new String[] {"How many lines does " + speaker + " speak in this passage?",
                        Integer.toString(lines)};
            }
        }
    }

    static String line(String question, String passage, String answer, Random random) {
        double format = random.nextDouble();
        if (format < 0.6) {
            String system = random.nextBoolean() ? "{\"role\": \"system\", \"content\": \"Answer from the passage.\"}, "
                    : "";
            return "{\"messages\": [" + system + "{\"role\": \"user\", \"content\": " + json(question + "\n\n" + passage)
                    + "}, {\"role\": \"assistant\", \"content\": " + json(answer) + "}]}\n";
        }
        if (format < 0.85) {
            return "{\"instruction\": " + json(question) + ", \"input\": " + json(passage) + ", \"output\": "
                    + json(answer) + "}\n";
        }
        return "{\"prompt\": " + json(passage + "\n\nQuestion: " + question + "\nAnswer: ") + ", \"completion\": "
                + json(answer) + "}\n";
    }

    static String json(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                default -> out.append(c < 0x20 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
            }
        }
        return out.append('"').toString();
    }
}
