package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import java.util.List;
import java.util.Locale;
import java.util.regex.PatternSyntaxException;

/** The pre-tokenizer patterns of OpenAI's vocabularies, by name, in tiktoken's syntax. */
public final class SplitPatterns {
    private SplitPatterns() {
    }

    public static final String GPT2 =
            "'(?:[sdmt]|ll|ve|re)| ?\\p{L}++| ?\\p{N}++| ?[^\\s\\p{L}\\p{N}]++|\\s++$|\\s+(?!\\S)|\\s";
    public static final String CL100K =
            "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$"
                    + "|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";
    public static final String O200K = String.join("|",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            "\\p{N}{1,3}", " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*", "\\s*[\\r\\n]+", "\\s+(?!\\S)", "\\s+");

    /** The names of the built-in choices. */
    static final List<String> KNOWN = List.of("gpt2", "cl100k", "o200k", "none");

    /**
     * gpt2, cl100k, o200k, none (null: no split), or the text itself as a custom regular expression. A plain word that
     * is none of the names is an error (with the nearest name), not a literal pattern.
     */
    public static String named(String name) {
        String pattern = switch (name) {
            case "gpt2" -> GPT2;
            case "cl100k" -> CL100K;
            case "o200k" -> O200K;
            case "none" -> null;
            default -> name;
        };
        boolean custom = !KNOWN.contains(name);
        if (custom && name.matches("[\\w-]+")) {
            // a word, not a regular expression: a misspelt name would otherwise become a literal pattern
            String lower = name.toLowerCase(Locale.ROOT);
            String nearest = KNOWN.stream()
                    .filter(known -> lower.startsWith(known) || known.startsWith(lower)).findFirst()
                    .orElse("cl100k");
            throw new KilnException("bpe: pattern '" + name + "' is not a split pattern Kiln knows (gpt2, cl100k, "
                    + "o200k, none); did you mean " + nearest + "? A custom regular expression needs at least one of "
                    + "the characters \\ [ ] ( ) { } | ? * + . ^ $");
        }
        if (pattern != null) {
            try {
                BpeTokenizer.compile(pattern);
            } catch (PatternSyntaxException e) {
                throw new KilnException("bpe: pattern '" + name + "' is neither gpt2, cl100k, o200k, none nor a valid "
                        + "regular expression: " + e.getDescription());
            }
        }
        return pattern;
    }
}
