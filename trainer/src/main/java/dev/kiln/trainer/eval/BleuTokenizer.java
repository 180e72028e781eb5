package dev.kiln.trainer.eval;

import dev.kiln.api.KilnException;
import java.util.Arrays;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** sacrebleu's tokenizers for BLEU, by their signature names: {@code 13a} (the default), {@code intl}, {@code char}, {@code none}. */
public enum BleuTokenizer {
    /** mteval-v13a: unescapes a few entities, splits punctuation and symbols, and periods and commas not beside digits. */
    V13A("13a") {
        private static final Pattern[] PATTERNS = {
                Pattern.compile("([{-~\\[-` -&(-+:-@/])"), Pattern.compile("([^0-9])([.,])"),
                Pattern.compile("([.,])([^0-9])"), Pattern.compile("([0-9])(-)")};
        private static final String[] REPLACEMENTS = {" $1 ", "$1 $2 ", " $1 $2", "$1 $2 "};

        @Override
        public String tokenize(String line) {
            line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ").replace("&quot;", "\"")
                    .replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
            return substitute(" " + line + " ", PATTERNS, REPLACEMENTS);
        }
    },
    /** mteval-v14's international tokenization: Unicode punctuation not between digits, and every symbol. */
    INTL("intl") {
        private static final Pattern[] PATTERNS = {
                Pattern.compile("(\\P{N})(\\p{P})"), Pattern.compile("(\\p{P})(\\P{N})"), Pattern.compile("(\\p{S})")};
        private static final String[] REPLACEMENTS = {"$1 $2 ", " $1 $2", " $1 "};

        @Override
        public String tokenize(String line) {
            return substitute(line, PATTERNS, REPLACEMENTS);
        }
    },
    /** Every character a token. */
    CHAR("char") {
        @Override
        public String tokenize(String line) {
            return line.codePoints().mapToObj(Character::toString).collect(Collectors.joining(" "));
        }
    },
    /** The text as it is (already tokenized). */
    NONE("none") {
        @Override
        public String tokenize(String line) {
            return line;
        }
    };

    private final String signatureName;

    BleuTokenizer(String signatureName) {
        this.signatureName = signatureName;
    }

    /** The line as sacrebleu's tokenizer of this name returns it (tokens separated by single spaces). */
    public abstract String tokenize(String line);

    public String signatureName() {
        return signatureName;
    }

    public static BleuTokenizer named(String name) {
        for (BleuTokenizer t : values()) {
            if (t.signatureName.equals(name.toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        throw new KilnException("unknown BLEU tokenizer '" + name + "'; known: "
                + Arrays.stream(values()).map(BleuTokenizer::signatureName).toList());
    }

    private static String substitute(String line, Pattern[] patterns, String[] replacements) {
        for (int i = 0; i < patterns.length; i++) {
            line = patterns[i].matcher(line).replaceAll(replacements[i]);
        }
        return PythonText.normalizeSpaces(line);
    }
}
