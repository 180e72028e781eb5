package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import java.text.Normalizer.Form;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * Text clean-up applied before tokenization, off by default: a pipeline of named steps ({@code nfc}, {@code nfkc},
 * {@code lowercase}, {@code strip_control}), as a tokenizer.json normalizer sequence. Byte-level BPE needs none to be
 * lossless; these are for corpora that want folding.
 */
public final class Normalizer implements UnaryOperator<String> {
    private final List<String> steps;

    private Normalizer(List<String> steps) {
        this.steps = List.copyOf(steps);
    }

    /** Parses "nfc,lowercase" (empty: no normalization); an unknown step is an error listing the known ones. */
    public static Normalizer parse(String spec) {
        List<String> steps = new ArrayList<>();
        for (String step : spec.split(",")) {
            String name = step.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            if (!List.of("nfc", "nfkc", "lowercase", "strip_control").contains(name)) {
                throw new KilnException("normalizer: unknown step '" + step.trim() + "'; steps: nfc, nfkc, lowercase, "
                        + "strip_control");
            }
            steps.add(name);
        }
        return new Normalizer(steps);
    }

    public List<String> steps() {
        return steps;
    }

    @Override
    public String apply(String text) {
        String out = text;
        for (String step : steps) {
            out = switch (step) {
                case "nfc" -> java.text.Normalizer.normalize(out, Form.NFC);
                case "nfkc" -> java.text.Normalizer.normalize(out, Form.NFKC);
                case "lowercase" -> out.toLowerCase(Locale.ROOT);
                case "strip_control" -> stripControl(out);
                default -> throw new IllegalStateException(step);
            };
        }
        return out;
    }

    /** Removes control characters (Unicode category Cc) except tab, line feed and carriage return. */
    private static String stripControl(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        text.codePoints().filter(cp -> Character.getType(cp) != Character.CONTROL || cp == '\t' || cp == '\n'
                || cp == '\r').forEach(sb::appendCodePoint);
        return sb.toString();
    }
}
