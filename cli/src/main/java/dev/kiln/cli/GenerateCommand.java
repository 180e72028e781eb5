package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.trainer.TokenTextStream;
import dev.kiln.trainer.data.PairEncoding;
import dev.kiln.trainer.eval.Seq2SeqEvaluator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kiln generate}: continues a prompt from a checkpoint, printing tokens as they are chosen. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Continue a prompt with a trained model, streaming the text.")
final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "The text to continue (decoder models).")
    String prompt;

    @Option(names = "--source", paramLabel = "TEXT", description = "A source to transduce (seq2seq models).")
    String source;

    @Option(names = "--sources", paramLabel = "FILE", description = "A file of sources, one per line (seq2seq models).")
    Path sources;

    @Option(names = "--beam", paramLabel = "N", defaultValue = "4", description = "Beam size for seq2seq; 1 is greedy.")
    int beam;

    @Option(names = "--length-penalty", paramLabel = "A", defaultValue = "0.6",
            description = "GNMT's α for beam search: scores divided by ((5 + length) / 6)^α.")
    double lengthPenalty;

    @Option(names = "--max-tokens", paramLabel = "N", description = "Tokens to generate (default 200; seq2seq: the "
            + "run's max_target_length).")
    Integer maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8", description = "0 is greedy.")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "200", description = "0 keeps every token.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1.0")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1337")
    long seed;

    @Override
    public Integer call() {
        try (LoadedModel loaded = model.load(kiln)) {
            if (loaded.model().kind() == ModelKind.ENCODER_DECODER) {
                return transduce(loaded);
            }
            if (prompt == null) {
                throw new KilnException("--prompt is required for a " + loaded.model().modelId() + " model (--source "
                        + "and --sources are for seq2seq models)");
            }
            int[] ids = loaded.tokenizer().encode(prompt);
            if (ids.length == 0) {
                throw new KilnException("the prompt encodes to no tokens; give at least one character");
            }
            Set<Integer> stop = loaded.tokenizer().specialTokens().containsKey("<|endoftext|>")
                    ? Set.of(loaded.tokenizer().specialTokens().get("<|endoftext|>")) : Set.of();
            Sampling sampling = new Sampling(temperature, topK, topP, seed, maxTokens == null ? 200 : maxTokens, stop);
            TokenTextStream text = new TokenTextStream(loaded.tokenizer());
            kiln.out.print(prompt);
            kiln.out.flush();
            TextGeneration.generate(loaded.model(), ids, sampling, token -> {
                kiln.out.print(text.accept(token));
                kiln.out.flush();
            });
            kiln.out.println(text.flush());
        }
        return 0;
    }

    /** Decodes each source (the --source text, or every non-blank line of --sources) and prints one target per line. */
    private int transduce(LoadedModel loaded) {
        List<String> texts = new ArrayList<>();
        if (source != null) {
            texts.add(source);
        }
        if (sources != null) {
            try {
                Files.readAllLines(sources, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).forEach(texts::add);
            } catch (IOException e) {
                throw new KilnException("cannot read --sources " + sources + ": " + e.getMessage(), e);
            }
        }
        if (texts.isEmpty()) {
            throw new KilnException("a seq2seq model transduces sources: give --source TEXT or --sources FILE"
                    + (prompt != null ? " (--prompt is for decoder models)" : ""));
        }
        PairEncoding encoding = Seq2SeqCommands.encoding(loaded);
        BeamSearch search = encoding.search(beam, lengthPenalty, maxTokens == null ? 0 : maxTokens);
        List<int[]> ids = texts.stream().map(encoding::source).toList();
        new Seq2SeqEvaluator(encoding).decode(Seq2SeqCommands.model(loaded), loaded.backend(), ids, 32, search)
                .forEach(kiln.out::println);
        return 0;
    }
}
