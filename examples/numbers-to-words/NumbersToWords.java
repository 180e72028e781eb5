import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Writes the numbers-to-words pairs: numbers below a million written with digits and thousands separators (source)
 * and in English words (target), one tab-separated pair per line. The numbers are drawn without repetition from a
 * fixed seed; the last 500 lines are the validation split, so no validation number is seen in training.
 *
 * <p>{@code java examples/numbers-to-words/NumbersToWords.java examples/numbers-to-words/pairs.tsv}
 */
public final class NumbersToWords {
    static final int TRAIN = 19_500;
    static final int VALIDATION = 500;
    static final long SEED = 20261201L;

    private static final String[] SMALL = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
            "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
            "nineteen"};
    private static final String[] TENS = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety"};

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "pairs.tsv");
        Files.writeString(out, String.join("", lines()), StandardCharsets.UTF_8);
    }

    /** Every line of the file, newline included: the training pairs, then the validation pairs. */
    static List<String> lines() {
        List<Integer> numbers = new ArrayList<>(1_000_000);
        for (int n = 0; n < 1_000_000; n++) {
            numbers.add(n);
        }
        Collections.shuffle(numbers, new Random(SEED));
        List<String> lines = new ArrayList<>(TRAIN + VALIDATION);
        for (int n : numbers.subList(0, TRAIN + VALIDATION)) {
            lines.add(String.format(Locale.US, "%,d", n) + "\t" + words(n) + "\n");
        }
        return lines;
    }

    /** 40710 → "forty thousand seven hundred ten" (American usage: no "and", hyphenated tens). */
    static String words(int n) {
        if (n < 1000) {
            return belowThousand(n);
        }
        String rest = n % 1000 == 0 ? "" : " " + belowThousand(n % 1000);
        return belowThousand(n / 1000) + " thousand" + rest;
    }

    private static String belowThousand(int n) {
        if (n < 100) {
            return belowHundred(n);
        }
        return SMALL[n / 100] + " hundred" + (n % 100 == 0 ? "" : " " + belowHundred(n % 100));
    }

    private static String belowHundred(int n) {
        if (n < 20) {
            return SMALL[n];
        }
        return TENS[n / 10] + (n % 10 == 0 ? "" : "-" + SMALL[n % 10]);
    }
}
