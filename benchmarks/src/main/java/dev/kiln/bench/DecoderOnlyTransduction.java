package dev.kiln.bench;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.backend.cpu.CpuBackendProvider;
import dev.kiln.model.transformer.GptModelProvider;
import dev.kiln.tokenizer.bpe.BpeTokenizerProvider;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.eval.Bleu;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The decoder-only side of the seq2seq comparison: a {@code gpt} trained with the {@code lm} task on lines
 * {@code source => target} is prompted with {@code source =>} for each validation pair and decoded greedily to the
 * end of the line; BLEU and exact match as the seq2seq evaluation reports them. Usage:
 * {@code java -cp benchmarks.jar dev.kiln.bench.DecoderOnlyTransduction RUN PAIRS.tsv VALIDATION_COUNT}.
 */
public final class DecoderOnlyTransduction {
    private DecoderOnlyTransduction() {
    }

    public static void main(String[] args) throws IOException {
        Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(Path.of(args[0]), true));
        List<String> lines = Files.readAllLines(Path.of(args[1]), StandardCharsets.UTF_8);
        int count = Integer.parseInt(args[2]);
        List<String> validation = lines.subList(lines.size() - count, lines.size());
        Tokenizer tokenizer = checkpoint.loadTokenizer(new BpeTokenizerProvider());
        try (Backend backend = new CpuBackendProvider().create(dev.kiln.api.plugin.Options.of("threads", "2"))) {
            LanguageModel model = checkpoint.loadModel(new GptModelProvider(), backend, new Generator(0));
            List<String> hypotheses = new ArrayList<>();
            List<String> references = new ArrayList<>();
            long start = System.nanoTime();
            for (String line : validation) {
                String[] pair = line.split("\t");
                int[] prompt = tokenizer.encode(pair[0] + " =>");
                int[] out = TextGeneration.generate(model, prompt, Sampling.greedy(24), token -> { });
                String text = tokenizer.decode(out);
                int newline = text.indexOf('\n');
                hypotheses.add((newline < 0 ? text : text.substring(0, newline)).strip());
                references.add(pair[1]);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            int exact = 0;
            for (int i = 0; i < hypotheses.size(); i++) {
                exact += hypotheses.get(i).equals(references.get(i)) ? 1 : 0;
            }
            System.out.printf(Locale.ROOT, "%s%nexact match %.1f%% of %d, decoded in %.1f s%n",
                    Bleu.standard().corpusScore(hypotheses, List.of(references)).format(), 100.0 * exact / count,
                    count, seconds);
        }
    }
}
