package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.nio.file.Path;
import java.text.Normalizer.Form;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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

    /** The Hugging Face tokenizer.json {@code normalizer} for these steps: null when there are none. */
    Object toJson() {
        if (steps.isEmpty()) {
            return null;
        }
        List<Object> normalizers = new ArrayList<>();
        for (String step : steps) {
            normalizers.add(switch (step) {
                case "nfc" -> HuggingFaceFiles.ordered("type", "NFC");
                case "nfkc" -> HuggingFaceFiles.ordered("type", "NFKC");
                case "lowercase" -> HuggingFaceFiles.ordered("type", "Lowercase");
                case "strip_control" -> HuggingFaceFiles.ordered("type", "Replace", "pattern",
                        HuggingFaceFiles.ordered("Regex", STRIP_CONTROL_REGEX),
                        "content", "");
                default -> throw new IllegalStateException(step);
            });
        }
        return HuggingFaceFiles.ordered("type", "Sequence", "normalizers", normalizers);
    }

    /** Reads what {@link #toJson()} writes (or a single normalizer); another kind is an error naming the file. */
    static Normalizer fromJson(Object json, Path file) {
        if (json == null) {
            return new Normalizer(List.of());
        }
        List<String> steps = new ArrayList<>();
        if (json instanceof Map<?, ?> map && "Sequence".equals(map.get("type"))
                && map.get("normalizers") instanceof List<?> list) {
            for (Object one : list) {
                steps.add(stepOf(one, file));
            }
        } else {
            steps.add(stepOf(json, file));
        }
        return new Normalizer(steps);
    }

    private static String stepOf(Object json, Path file) {
        if (json instanceof Map<?, ?> map) {
            Object type = map.get("type");
            if ("NFC".equals(type)) {
                return "nfc";
            }
            if ("NFKC".equals(type)) {
                return "nfkc";
            }
            if ("Lowercase".equals(type)) {
                return "lowercase";
            }
            if ("Replace".equals(type) && map.get("pattern") instanceof Map<?, ?> pattern
                    && STRIP_CONTROL_REGEX.equals(pattern.get("Regex")) && "".equals(map.get("content"))) {
                return "strip_control";
            }
        }
        throw new KilnException(file + ": unsupported normalizer " + Json.write(json) + "; Kiln reads NFC, NFKC, "
                + "Lowercase and its own control-character Replace");
    }

    /** Control characters but tab, line feed and carriage return: what {@code strip_control} removes. */
    private static final String STRIP_CONTROL_REGEX = "[\\p{Cc}&&[^\\t\\n\\r]]";
}
