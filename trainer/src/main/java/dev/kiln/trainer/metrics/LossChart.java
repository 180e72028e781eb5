package dev.kiln.trainer.metrics;

import dev.kiln.api.io.AtomicFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The loss curves as a standalone SVG: training loss as a line, validation loss as a line with points. */
public final class LossChart {
    private static final int WIDTH = 720;
    private static final int HEIGHT = 420;
    private static final int LEFT = 64;
    private static final int RIGHT = 24;
    private static final int TOP = 36;
    private static final int BOTTOM = 48;

    private LossChart() {
    }

    /** Writes the chart to {@code file} (replacing it whole, never half-written). */
    public static void write(Path file, String title, List<double[]> train, List<double[]> validation) {
        AtomicFiles.replace(file, "loss chart", svg(title, train, validation));
    }

    static String svg(String title, List<double[]> train, List<double[]> validation) {
        double maxStep = 1;
        double low = Double.POSITIVE_INFINITY;
        double high = Double.NEGATIVE_INFINITY;
        for (List<double[]> series : List.of(train, validation)) {
            for (double[] p : series) {
                if (Double.isFinite(p[1])) {
                    maxStep = Math.max(maxStep, p[0]);
                    low = Math.min(low, p[1]);
                    high = Math.max(high, p[1]);
                }
            }
        }
        if (!Double.isFinite(low)) {
            low = 0;
            high = 1;
        }
        if (high - low < 1e-6) {
            high = low + 1;
        }
        double pad = (high - low) * 0.05;
        low -= pad;
        high += pad;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">%n", WIDTH, HEIGHT, WIDTH, HEIGHT));
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"22\" font-size=\"14\">%s</text>%n", LEFT,
                escape(title)));
        int plotWidth = WIDTH - LEFT - RIGHT;
        int plotHeight = HEIGHT - TOP - BOTTOM;
        svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#888\"/>%n", LEFT, TOP, plotWidth, plotHeight));
        for (int i = 0; i <= 5; i++) {
            double loss = low + (high - low) * i / 5;
            double y = TOP + plotHeight - plotHeight * i / 5.0;
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>%n", LEFT, y, LEFT + plotWidth, y,
                    LEFT - 6, y + 4, loss));
            double step = maxStep * i / 5;
            double x = LEFT + plotWidth * i / 5.0;
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>%n", x,
                    TOP + plotHeight + 18, Math.round(step)));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>%n",
                LEFT + plotWidth / 2, HEIGHT - 8));
        svg.append(String.format(Locale.ROOT, "<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">"
                + "loss (nats per token)</text>%n", TOP + plotHeight / 2));
        polyline(svg, train, "#1f77b4", maxStep, low, high, false);
        polyline(svg, validation, "#ff7f0e", maxStep, low, high, true);
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" "
                + "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">train</text>%n", WIDTH - 200, 18, WIDTH - 180, 18,
                WIDTH - 175, 22));
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ff7f0e\" "
                + "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">validation</text>%n", WIDTH - 120, 18, WIDTH - 100, 18,
                WIDTH - 95, 22));
        svg.append("</svg>\n");
        return svg.toString();
    }

    private static void polyline(StringBuilder svg, List<double[]> points, String colour, double maxStep, double low,
                                 double high, boolean markers) {
        int plotWidth = WIDTH - LEFT - RIGHT;
        int plotHeight = HEIGHT - TOP - BOTTOM;
        StringBuilder coordinates = new StringBuilder();
        for (double[] p : points) {
            if (!Double.isFinite(p[1])) {
                continue;
            }
            double x = LEFT + plotWidth * p[0] / maxStep;
            double y = TOP + plotHeight * (high - p[1]) / (high - low);
            coordinates.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
            if (markers) {
                svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n", x, y,
                        colour));
            }
        }
        if (!coordinates.isEmpty()) {
            svg.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                    + "points=\"%s\"/>%n", colour, coordinates.toString().trim()));
        }
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
