package dev.kiln.api.plugin;

import java.util.Collection;
import java.util.Optional;

/** "Did you mean": the known name closest to a misspelt one, for errors about config keys and request fields. */
public final class Spelling {
    private Spelling() {
    }

    /** The known name nearest to {@code name} by edit distance, if it is close enough to be the one meant. */
    public static Optional<String> nearest(String name, Collection<String> known) {
        return known.stream().min((a, b) -> Integer.compare(distance(name, a), distance(name, b)))
                .filter(best -> distance(name, best) <= Math.max(2, name.length() / 3));
    }

    /** Levenshtein distance. */
    public static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
