package dev.kiln.api.model;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Decoding an encoder-decoder model's targets from a batch of sources: greedy (beam 1) or beam search. The encoder runs
 * once; the decoder steps every live hypothesis of every source in one batch through its caches, and rows of finished
 * sources are dropped. Beam search keeps {@code beam} hypotheses per source, ranks finished ones by their
 * log-probability divided by GNMT's length penalty {@code ((5 + length) / 6)^α} (length counts the EOS), keeps the
 * {@code beam} best finished ones, and stops a source once none of its live hypotheses can still beat the worst of
 * them (or at {@code maxLength} tokens, where live hypotheses count as unfinished candidates).
 *
 * @param beam          hypotheses kept per source; 1 is greedy decoding
 * @param lengthPenalty α; 0 ranks by log-probability alone
 * @param maxLength     the most tokens generated per source, EOS included
 * @param bos           the token every target starts from
 * @param eos           the token that ends a target
 */
public record BeamSearch(int beam, double lengthPenalty, int maxLength, int bos, int eos) {
    public BeamSearch {
        if (beam < 1 || maxLength < 1) {
            throw new KilnException("beam search: beam (" + beam + ") and maximum length (" + maxLength
                    + ") must be at least 1");
        }
        if (!Double.isFinite(lengthPenalty) || lengthPenalty < 0) {
            throw new KilnException("beam search: the length penalty must be a finite number ≥ 0, got " + lengthPenalty);
        }
    }

    /** One decoded target: its tokens (without BOS and EOS), its log-probability and whether it reached EOS. */
    public record Hypothesis(int[] tokens, double logProbability, boolean finished) {
        public Hypothesis {
            tokens = tokens.clone();
        }

        @Override
        public int[] tokens() {
            return tokens.clone();
        }
    }

    /** GNMT's length penalty for a hypothesis of {@code length} tokens. */
    public double penalty(int length) {
        return Math.pow((5.0 + length) / 6.0, lengthPenalty);
    }

    /** The best target for each source row of sourceIds (B, S), right-padded to {@code sourceLengths}. */
    public List<Hypothesis> decode(EncoderDecoderModel model, Tensor sourceIds, int[] sourceLengths) {
        boolean training = model.isTraining();
        try (var noGrad = GradMode.noGrad()) {
            model.eval();
            EncodedSource source = model.encode(sourceIds, sourceLengths);
            BeamDecoder decoder = model.decoder(source);
            return beam == 1 ? greedy(decoder, sourceIds.size(0), sourceIds) : search(decoder, sourceIds.size(0), sourceIds);
        } finally {
            model.train(training);
        }
    }

    private List<Hypothesis> greedy(BeamDecoder decoder, int sources, Tensor like) {
        List<List<Integer>> tokens = new ArrayList<>();
        double[] logProbability = new double[sources];
        boolean[] finished = new boolean[sources];
        for (int s = 0; s < sources; s++) {
            tokens.add(new ArrayList<>());
        }
        int[] live = range(sources);                               // decoder row i holds source live[i]
        int[] next = filled(sources, bos);
        for (int step = 0; step < maxLength && live.length > 0; step++) {
            float[] logits = decoder.next(Tensor.ofInts(like.backend(), next, live.length, 1)).toFloatArray();
            int vocab = logits.length / live.length;
            List<Integer> keep = new ArrayList<>();
            for (int row = 0; row < live.length; row++) {
                int best = argmax(logits, row * vocab, vocab);
                int s = live[row];
                logProbability[s] += logits[row * vocab + best] - logSumExp(logits, row * vocab, vocab);
                if (best == eos) {
                    finished[s] = true;
                } else {
                    tokens.get(s).add(best);
                    keep.add(row);
                }
            }
            int[] kept = keep.stream().mapToInt(Integer::intValue).toArray();
            if (kept.length < live.length && kept.length > 0) {
                decoder.reorder(kept);
            }
            int[] nextLive = new int[kept.length];
            next = new int[kept.length];
            for (int i = 0; i < kept.length; i++) {
                nextLive[i] = live[kept[i]];
                List<Integer> t = tokens.get(nextLive[i]);
                next[i] = t.get(t.size() - 1);
            }
            live = nextLive;
        }
        List<Hypothesis> out = new ArrayList<>();
        for (int s = 0; s < sources; s++) {
            out.add(new Hypothesis(tokens.get(s).stream().mapToInt(Integer::intValue).toArray(), logProbability[s],
                    finished[s]));
        }
        return out;
    }

    /** A live beam entry: its tokens so far and their log-probability. */
    private record Beam(int source, int[] tokens, double score) {
    }

    /** A candidate continuation: decoder row, token, total log-probability. */
    private record Candidate(int row, int token, double score) {
    }

    private List<Hypothesis> search(BeamDecoder decoder, int sources, Tensor like) {
        List<List<Hypothesis>> done = new ArrayList<>();            // per source: the best `beam` finished, best first
        for (int s = 0; s < sources; s++) {
            done.add(new ArrayList<>());
        }
        List<Beam> beams = new ArrayList<>();                      // decoder row i holds beams.get(i)
        for (int s = 0; s < sources; s++) {
            beams.add(new Beam(s, new int[0], 0.0));
        }
        double bestPossibleFactor = 1.0 / penalty(maxLength);
        for (int step = 0; step < maxLength && !beams.isEmpty(); step++) {
            int[] next = new int[beams.size()];
            for (int i = 0; i < next.length; i++) {
                int[] t = beams.get(i).tokens();
                next[i] = t.length == 0 ? bos : t[t.length - 1];
            }
            float[] logits = decoder.next(Tensor.ofInts(like.backend(), next, next.length, 1)).toFloatArray();
            int vocab = logits.length / next.length;
            boolean last = step == maxLength - 1;
            List<Beam> survivors = new ArrayList<>();
            List<Integer> rows = new ArrayList<>();
            int row = 0;
            while (row < beams.size()) {
                int source = beams.get(row).source();
                int first = row;
                while (row < beams.size() && beams.get(row).source() == source) {
                    row++;
                }
                List<Beam> alive = new ArrayList<>();
                List<Integer> aliveRows = new ArrayList<>();
                for (Candidate c : topCandidates(logits, vocab, beams, first, row)) {
                    Beam parent = beams.get(c.row());
                    if (c.token() == eos) {
                        keepBest(done.get(source), new Hypothesis(parent.tokens(), c.score(), true));
                    } else if (alive.size() < beam) {
                        int[] tokens = Arrays.copyOf(parent.tokens(), parent.tokens().length + 1);
                        tokens[tokens.length - 1] = c.token();
                        alive.add(new Beam(source, tokens, c.score()));
                        aliveRows.add(c.row());
                    }
                }
                List<Hypothesis> finished = done.get(source);
                // log-probabilities only fall, so no live hypothesis can score above its score now / penalty(maxLength)
                boolean settled = finished.size() == beam && (alive.isEmpty() || normalized(finished.get(beam - 1))
                        >= alive.get(0).score() * bestPossibleFactor);
                if (last && !settled) {
                    for (Beam b : alive) {
                        keepBest(finished, new Hypothesis(b.tokens(), b.score(), false));
                    }
                } else if (!settled) {
                    survivors.addAll(alive);
                    rows.addAll(aliveRows);
                }
            }
            if (!survivors.isEmpty()) {
                decoder.reorder(rows.stream().mapToInt(Integer::intValue).toArray());
            }
            beams = survivors;
        }
        return done.stream().map(List::getFirst).toList();
    }

    /** A hypothesis's log-probability divided by the length penalty of its tokens (EOS counted when it has one). */
    private double normalized(Hypothesis h) {
        return h.logProbability() / penalty(h.tokens().length + (h.finished() ? 1 : 0));
    }

    /** Inserts h into the best-first list, keeping at most {@code beam} entries. */
    private void keepBest(List<Hypothesis> best, Hypothesis h) {
        double score = normalized(h);
        int at = 0;
        while (at < best.size() && normalized(best.get(at)) >= score) {
            at++;
        }
        if (at < beam) {
            best.add(at, h);
            if (best.size() > beam) {
                best.removeLast();
            }
        }
    }

    /** The 2·beam best continuations of the beams in rows [from, to) (one source), best first. */
    private List<Candidate> topCandidates(float[] logits, int vocab, List<Beam> beams, int from, int to) {
        int keep = 2 * beam;
        PriorityQueue<Candidate> heap = new PriorityQueue<>((a, b) -> Double.compare(a.score(), b.score()));
        for (int r = from; r < to; r++) {
            double base = beams.get(r).score() - logSumExp(logits, r * vocab, vocab);
            for (int v = 0; v < vocab; v++) {
                double score = base + logits[r * vocab + v];
                if (heap.size() < keep) {
                    heap.add(new Candidate(r, v, score));
                } else if (score > heap.peek().score()) {
                    heap.poll();
                    heap.add(new Candidate(r, v, score));
                }
            }
        }
        List<Candidate> ranked = new ArrayList<>(heap);
        ranked.sort((a, b) -> Double.compare(b.score(), a.score()));
        return ranked;
    }

    private static double logSumExp(float[] x, int offset, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(x[offset + i] - max);
        }
        return max + Math.log(sum);
    }

    private static int argmax(float[] x, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (x[offset + i] > x[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    private static int[] range(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }

    private static int[] filled(int n, int value) {
        int[] out = new int[n];
        Arrays.fill(out, value);
        return out;
    }
}
