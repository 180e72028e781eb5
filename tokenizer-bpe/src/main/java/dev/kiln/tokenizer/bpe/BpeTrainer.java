package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;


/**
 * Trains a byte-level BPE vocabulary as minbpe does: start from the 256 bytes; repeatedly merge the most frequent
 * adjacent pair, ties going to the pair seen first; with a split pattern, pairs never cross the pattern's pieces.
 *
 * <p>Pieces are counted once per distinct text, in order of first appearance, and weighted by their count: the same
 * counts and the same "seen first" order as scanning the whole text, with far less work on real language.
 */
public final class BpeTrainer {
    private BpeTrainer() {
    }

    /** One merge: tokens {@code left} and {@code right} become {@code id}. */
    public record Merge(int left, int right, int id) {
    }

    /** The trained merges and the tokenizer they define. */
    public record Result(List<Merge> merges, BpeTokenizer tokenizer) {
    }

    /**
     * @param vocabSize at least 256 (the bytes); vocabSize − 256 merges are learned (fewer if the text runs out)
     * @param pattern   tiktoken-syntax split pattern, or null to train on the text as one sequence
     * @param specialTokens special tokens, numbered after the learned vocabulary
     */
    public static Result train(String text, int vocabSize, String pattern, List<String> specialTokens) {
        if (vocabSize < 256) {
            throw new KilnException("bpe: vocabulary size " + vocabSize + " is below 256, the single bytes");
        }
        if (vocabSize > HuggingFaceFiles.MAX_TOKEN_ID) {
            throw new KilnException("bpe: vocabulary size " + vocabSize + " is above Kiln's limit of "
                    + HuggingFaceFiles.MAX_TOKEN_ID + " tokens");
        }
        if (text.isEmpty()) {
            throw new KilnException("bpe: cannot train on an empty corpus");
        }
        List<int[]> pieces = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        countPieces(BpeTokenizer.replaceLoneSurrogates(text), pattern, pieces, weights);
        int[][] sequences = pieces.toArray(int[][]::new);
        int[] lengths = Arrays.stream(sequences).mapToInt(s -> s.length).toArray();
        int[] weight = weights.stream().mapToInt(Integer::intValue).toArray();
        List<byte[]> tokens = new ArrayList<>(Math.min(vocabSize, 1 << 16));     // grows with the merges found
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        List<Merge> merges = new ArrayList<>();
        PairIndex index = new PairIndex(sequences, lengths, weight);
        for (int id = 256; id < vocabSize; id++) {
            long best = index.best();
            if (best < 0) {
                break;                                            // nothing left to merge
            }
            int left = (int) (best >>> 32);
            int right = (int) best;
            merges.add(new Merge(left, right, id));
            tokens.add(concat(tokens.get(left), tokens.get(right)));
            index.merge(best, id);
        }
        byte[][] vocabulary = tokens.toArray(byte[][]::new);
        Map<String, Integer> special = new LinkedHashMap<>();
        for (String name : specialTokens) {
            special.putIfAbsent(name, vocabulary.length + special.size());
        }
        return new Result(List.copyOf(merges), new BpeTokenizer(vocabulary, special, pattern));
    }

    private static void countPieces(String text, String pattern, List<int[]> pieces, List<Integer> weights) {
        if (pattern == null) {
            pieces.add(toInts(text.getBytes(StandardCharsets.UTF_8)));
            weights.add(1);
            return;
        }
        Map<String, Integer> index = new HashMap<>();
        PreTokenizer.of(pattern).split(text, (start, end) -> {
            String piece = text.substring(start, end);
            Integer at = index.get(piece);
            if (at == null) {
                index.put(piece, pieces.size());
                pieces.add(toInts(piece.getBytes(StandardCharsets.UTF_8)));
                weights.add(1);
            } else {
                weights.set(at, weights.get(at) + 1);
            }
        });
    }

    private static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    /**
     * Pair counts kept up to date across merges: each merge rewrites only the pieces that contain the pair. The best
     * pair comes from a lazy max-heap of (count, pair); among equal counts the pair that occurs first (lowest piece,
     * then leftmost position) wins, which is minbpe's "first inserted" rule.
     */
    private static final class PairIndex {
        private final int[][] sequences;
        private final int[] lengths;
        private final int[] weight;
        private final Map<Long, long[]> counts = new HashMap<>();                 // pair → {count}
        private final Map<Long, java.util.TreeSet<Integer>> pieces = new HashMap<>();   // pair → pieces holding it
        private final java.util.PriorityQueue<long[]> heap =
                new java.util.PriorityQueue<>((x, y) -> Long.compare(y[0], x[0]));

        PairIndex(int[][] sequences, int[] lengths, int[] weight) {
            this.sequences = sequences;
            this.lengths = lengths;
            this.weight = weight;
            for (int s = 0; s < sequences.length; s++) {
                add(s, 1);
            }
            counts.forEach((p, c) -> heap.add(new long[] {c[0], p}));
        }

        /** Adds (sign 1) or removes (−1) every adjacent pair of piece s to the counts. */
        private void add(int s, int sign) {
            int[] seq = sequences[s];
            for (int i = 0; i + 1 < lengths[s]; i++) {
                long p = pair(seq[i], seq[i + 1]);
                counts.computeIfAbsent(p, k -> new long[1])[0] += sign * (long) weight[s];
                if (sign > 0) {
                    pieces.computeIfAbsent(p, k -> new java.util.TreeSet<>()).add(s);
                }
            }
        }

        long best() {
            long[] top;
            while ((top = heap.poll()) != null) {                  // drop stale entries
                long[] current = counts.get(top[1]);
                if (current != null && current[0] == top[0] && top[0] > 0) {
                    break;
                }
            }
            if (top == null) {
                return -1;
            }
            List<long[]> tied = new ArrayList<>();
            tied.add(top);
            while (!heap.isEmpty() && heap.peek()[0] == top[0]) {
                long[] next = heap.poll();
                long[] current = counts.get(next[1]);
                if (current != null && current[0] == next[0]) {
                    tied.add(next);
                }
            }
            long[] winner = tied.getFirst();
            long winnerOrder = firstOccurrence(winner[1]);
            for (long[] candidate : tied.subList(1, tied.size())) {
                long order = firstOccurrence(candidate[1]);
                if (order < winnerOrder) {
                    winner = candidate;
                    winnerOrder = order;
                }
            }
            for (long[] entry : tied) {
                if (entry != winner) {
                    heap.add(entry);
                }
            }
            return winner[1];
        }

        /** (piece, position) of the pair's first occurrence, packed so that smaller is earlier. */
        private long firstOccurrence(long p) {
            int left = (int) (p >>> 32);
            int right = (int) p;
            for (int s : pieces.get(p)) {
                int[] seq = sequences[s];
                for (int i = 0; i + 1 < lengths[s]; i++) {
                    if (seq[i] == left && seq[i + 1] == right) {
                        return ((long) s << 32) | i;
                    }
                }
            }
            return Long.MAX_VALUE;
        }

        /** Merges the pair into id in every piece that holds it, updating counts, piece sets and the heap. */
        void merge(long p, int id) {
            int left = (int) (p >>> 32);
            int right = (int) p;
            java.util.Set<Long> touched = new java.util.HashSet<>();
            java.util.TreeSet<Integer> holders = pieces.get(p);
            for (int s : holders == null ? List.<Integer>of() : new ArrayList<>(holders)) {
                java.util.Set<Long> before = pairsOf(s);
                add(s, -1);
                lengths[s] = replace(sequences[s], lengths[s], left, right, id);
                add(s, 1);
                java.util.Set<Long> after = pairsOf(s);
                for (long q : before) {
                    if (!after.contains(q)) {
                        pieces.get(q).remove(s);
                    }
                }
                touched.addAll(before);
                touched.addAll(after);
            }
            for (long q : touched) {
                long[] c = counts.get(q);
                if (c != null && c[0] > 0) {
                    heap.add(new long[] {c[0], q});
                }
            }
        }

        private java.util.Set<Long> pairsOf(int s) {
            java.util.Set<Long> out = new java.util.HashSet<>();
            int[] seq = sequences[s];
            for (int i = 0; i + 1 < lengths[s]; i++) {
                out.add(pair(seq[i], seq[i + 1]));
            }
            return out;
        }
    }

    /** Replaces every non-overlapping (left, right) with id, left to right; returns the new length. */
    private static int replace(int[] seq, int length, int left, int right, int id) {
        int out = 0;
        for (int i = 0; i < length; i++) {
            if (i + 1 < length && seq[i] == left && seq[i + 1] == right) {
                seq[out++] = id;
                i++;
            } else {
                seq[out++] = seq[i];
            }
        }
        return out;
    }

    private static int[] toInts(byte[] bytes) {
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xFF;
        }
        return ids;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

}
