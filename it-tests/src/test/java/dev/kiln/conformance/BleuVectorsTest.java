package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.io.Json;
import dev.kiln.trainer.eval.Bleu;
import dev.kiln.trainer.eval.BleuScore;
import dev.kiln.trainer.eval.BleuTokenizer;
import dev.kiln.trainer.eval.Chrf;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Kiln's BLEU and chrF against sacrebleu 2.6.0: every vector in the file KILN_BLEU_VECTORS names (default: the shared
 * {@code bleu_vectors.jsonl}) — corpus BLEU with its n-gram counts and totals, brevity penalty, lengths and signature,
 * every sentence BLEU, and chrF; scores to 1e-9 relative.
 */
class BleuVectorsTest {
    static Path vectors() {
        String env = System.getenv("KILN_BLEU_VECTORS");
        return env != null ? Path.of(env) : SharedData.shared().resolve("data/bleu_vectors.jsonl");
    }

    @TestFactory
    Stream<DynamicTest> matchesSacrebleu() throws IOException {
        List<String> lines = Files.readAllLines(vectors(), StandardCharsets.UTF_8).stream()
                .filter(line -> !line.isBlank()).toList();
        assertFalse(lines.isEmpty(), "no vectors in " + vectors());
        List<DynamicTest> tests = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            String label = vectors().getFileName() + ":" + (i + 1);
            tests.add(dynamicTest(label, () -> check(label, line)));
        }
        return tests.stream();
    }

    @SuppressWarnings("unchecked")
    private static void check(String label, String line) {
        Map<String, Object> v = (Map<String, Object>) Json.parse(line, label);
        List<String> hypotheses = (List<String>) v.get("hyps");
        List<List<String>> references = (List<List<String>>) v.get("refs");
        Object smoothValue = v.get("smooth_value");
        Bleu bleu = new Bleu(BleuTokenizer.named((String) v.get("tokenize")), (Boolean) v.get("lowercase"),
                (String) v.get("smooth_method"), smoothValue == null ? Double.NaN : ((Number) smoothValue).doubleValue(),
                false);
        BleuScore score = bleu.corpusScore(hypotheses, references);
        close(label + " bleu", number(v, "bleu"), score.score());
        assertEquals(v.get("signature"), score.signature(), label + " signature");
        close(label + " bp", number(v, "bp"), score.brevityPenalty());
        assertEquals(number(v, "sys_len"), score.hypothesisLength(), label + " sys_len");
        assertEquals(number(v, "ref_len"), score.referenceLength(), label + " ref_len");
        List<Number> counts = (List<Number>) v.get("counts");
        List<Number> totals = (List<Number>) v.get("totals");
        for (int n = 0; n < counts.size(); n++) {
            assertEquals(counts.get(n).doubleValue(), score.counts()[n], label + " counts[" + n + "]");
            assertEquals(totals.get(n).doubleValue(), score.totals()[n], label + " totals[" + n + "]");
        }
        List<Number> sentences = (List<Number>) v.get("sentence_bleu");
        Bleu sentenceBleu = bleu.forSentences();
        for (int s = 0; s < hypotheses.size(); s++) {
            int segment = s;
            close(label + " sentence " + s, sentences.get(s).doubleValue(), sentenceBleu.sentenceScore(
                    hypotheses.get(s), references.stream().map(stream -> stream.get(segment)).toList()).score());
        }
        close(label + " chrf", number(v, "chrf"), Chrf.standard().corpusScore(hypotheses, references));
    }

    private static double number(Map<String, Object> v, String key) {
        return ((Number) v.get(key)).doubleValue();
    }

    private static void close(String what, double expected, double actual) {
        assertEquals(expected, actual, 1e-9 * Math.max(1e-300, Math.abs(expected)), what);
    }
}
