package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;


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
        if (text.isEmpty()) {
            throw new KilnException("bpe: cannot train on an empty corpus");
        }
        List<int[]> pieces = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        countPieces(BpeTokenizer.replaceLoneSurrogates(text), pattern, pieces, weights);
        int[][] sequences = pieces.toArray(int[][]::new);
        int[] lengths = Arrays.stream(sequences).mapToInt(s -> s.length).toArray();
        int[] weight = weights.stream().mapToInt(Integer::intValue).toArray();
        byte[][] tokens = new byte[vocabSize][];
        for (int b = 0; b < 256; b++) {
            tokens[b] = new byte[] {(byte) b};
        }
        List<Merge> merges = new ArrayList<>();
        for (int id = 256; id < vocabSize; id++) {
            long best = bestPair(sequences, lengths, weight);
            if (best < 0) {
                break;                                            // nothing left to merge
            }
            int left = (int) (best >>> 32);
            int right = (int) best;
            merges.add(new Merge(left, right, id));
            tokens[id] = concat(tokens[left], tokens[right]);
            for (int s = 0; s < sequences.length; s++) {
                lengths[s] = replace(sequences[s], lengths[s], left, right, id);
            }
        }
        byte[][] vocabulary = Arrays.copyOf(tokens, 256 + merges.size());
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
        Matcher m = BpeTokenizer.compile(pattern).matcher(text);
        while (m.find()) {
            String piece = m.group();
            Integer at = index.get(piece);
            if (at == null) {
                index.put(piece, pieces.size());
                pieces.add(toInts(piece.getBytes(StandardCharsets.UTF_8)));
                weights.add(1);
            } else {
                weights.set(at, weights.get(at) + 1);
            }
        }
    }

    /** The most frequent adjacent pair (ties: first seen), packed as left << 32 | right, or -1 if there is none. */
    private static long bestPair(int[][] sequences, int[] lengths, int[] weight) {
        Map<Long, long[]> stats = new HashMap<>();                // pair → {count, first-seen order}
        long order = 0;
        long best = -1;
        long bestCount = 0;
        long bestOrder = Long.MAX_VALUE;
        for (int s = 0; s < sequences.length; s++) {
            int[] seq = sequences[s];
            for (int i = 0; i + 1 < lengths[s]; i++) {
                long pair = ((long) seq[i] << 32) | (seq[i + 1] & 0xFFFFFFFFL);
                long[] entry = stats.get(pair);
                if (entry == null) {
                    entry = new long[] {0, order++};
                    stats.put(pair, entry);
                }
                entry[0] += weight[s];
            }
        }
        for (Map.Entry<Long, long[]> e : stats.entrySet()) {
            long[] v = e.getValue();
            if (v[0] > bestCount || (v[0] == bestCount && v[1] < bestOrder)) {
                best = e.getKey();
                bestCount = v[0];
                bestOrder = v[1];
            }
        }
        return best;
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
