package dev.kiln.cli;

import dev.kiln.api.task.Evaluation;
import dev.kiln.trainer.TrainingListener;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * Shows a run as it goes. On a terminal one progress line is redrawn in place (bar, step, loss, tokens/s, ETA); when
 * output goes to a file or a pipe every report is a plain line, so logs stay readable.
 */
final class ProgressPrinter implements TrainingListener {
    private static final int BAR = 24;
    private static final int ETA_WINDOW = 8;

    private final PrintWriter out;
    private final boolean terminal;
    /** The last reports' (step, time) points: the ETA's rate, after the first report, which absorbs warm-up. */
    private final ArrayDeque<long[]> window = new ArrayDeque<>();
    private boolean lineOpen;

    ProgressPrinter(PrintWriter out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    /** Whether standard output is an interactive terminal. */
    static boolean stdoutIsTerminal() {
        java.io.Console console = System.console();
        return console != null && console.isTerminal();
    }

    @Override
    public void onMessage(String message) {
        line(message);
    }

    @Override
    public void onStart(Path runDirectory, int firstStep, int totalSteps, long parameters) {
        window.clear();
        line(String.format(Locale.ROOT, "run: %s — %,d parameters, steps %d → %d", runDirectory, parameters,
                firstStep, totalSteps));
    }

    @Override
    public void onStep(StepReport r) {
        window.addLast(new long[] {r.step(), System.nanoTime()});
        if (window.size() > ETA_WINDOW) {
            window.removeFirst();
        }
        String eta = "--";
        if (window.size() >= 2 && window.getLast()[0] > window.getFirst()[0]) {
            double secondsPerStep = (window.getLast()[1] - window.getFirst()[1]) / 1e9
                    / (window.getLast()[0] - window.getFirst()[0]);
            eta = duration((r.totalSteps() - r.step()) * secondsPerStep);
        }
        String figures = String.format(Locale.ROOT, "step %d/%d  loss %.4f  lr %.2e  %,.0f tok/s  ETA %s", r.step(),
                r.totalSteps(), r.loss(), r.lr(), r.tokensPerSecond(), eta);
        if (terminal) {
            int filled = (int) Math.round(BAR * (double) r.step() / r.totalSteps());
            out.print("\r[" + "#".repeat(filled) + "-".repeat(BAR - filled) + "] " + figures + "   ");
            out.flush();
            lineOpen = true;
        } else {
            out.println(figures);
        }
    }

    @Override
    public void onEvaluation(int step, Evaluation e, boolean best) {
        line(String.format(Locale.ROOT, "eval  step %d: val loss %.4f%s%s", step, e.loss(), metrics(e),
                best ? "  (best)" : ""));
    }

    /** The task's metrics after the loss: the language-modelling ones as before, any other as name value. */
    static String metrics(Evaluation e) {
        StringBuilder out = new StringBuilder();
        e.metrics().forEach((name, value) -> {
            switch (name) {
                case "perplexity" -> out.append(String.format(Locale.ROOT, "  perplexity %.2f", value));
                case "bits_per_byte" -> out.append(String.format(Locale.ROOT, "  %.4f bits/byte", value));
                case "accuracy" -> out.append(String.format(Locale.ROOT, "  accuracy %.1f%%", 100 * value));
                case "bleu" -> out.append(String.format(Locale.ROOT, "  BLEU %.2f", value));
                case "chrf" -> out.append(String.format(Locale.ROOT, "  chrF %.2f", value));
                case "token_accuracy" -> out.append(String.format(Locale.ROOT, "  token accuracy %.1f%%", 100 * value));
                case "exact_match" -> out.append(String.format(Locale.ROOT, "  exact match %.1f%%", 100 * value));
                case "tokens", "bytes", "targets", "decoded", "examples" -> { }
                case "answered" -> out.append(String.format(Locale.ROOT, " (of %d answers)", Math.round(value)));
                default -> out.append(String.format(Locale.ROOT, "  %s %.4g", name, value));
            }
        });
        return out.toString();
    }

    @Override
    public void onSkippedStep(int step, String reason) {
        line("step " + step + " skipped: " + reason);
    }

    @Override
    public void onCheckpoint(int step, Path directory) {
        if (!terminal) {
            out.println("checkpoint " + directory);
        }
    }

    @Override
    public void onSampleText(String text) {
        out.print(text);
        out.flush();
    }

    private void line(String text) {
        if (lineOpen) {
            out.println();
            lineOpen = false;
        }
        out.println(text);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s % 3600 / 60)
                : s >= 60 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60) : s + "s";
    }
}
