package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.Trainer;
import dev.kiln.trainer.checkpoint.Checkpoint;
import dev.kiln.trainer.checkpoint.CheckpointStore;
import dev.kiln.trainer.data.Corpus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code kiln tokenizer train|encode|decode}. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true,
        description = "Train a vocabulary, or encode and decode with one.",
        subcommands = {TokenizerCommand.Train.class, TokenizerCommand.Encode.class, TokenizerCommand.Decode.class})
final class TokenizerCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Override
    public Integer call() {
        new picocli.CommandLine(this).usage(kiln.out);
        return 0;
    }

    /**
     * A tokenizer from a checkpoint or run directory, or from a file: {@code type} names the provider, else each
     * provider is tried in priority order and the errors of all are reported if none reads it.
     */
    static Tokenizer load(Plugins plugins, Path path, String type) {
        if (Files.isDirectory(path)) {
            Checkpoint checkpoint = Checkpoint.open(CheckpointStore.resolve(path, true));
            return checkpoint.loadTokenizer(plugins.tokenizers().get(checkpoint.tokenizerId()));
        }
        if (!Files.isRegularFile(path)) {
            throw new KilnException("tokenizer file " + path + " does not exist");
        }
        if (type != null) {
            return plugins.tokenizers().get(type).load(path);
        }
        List<String> failures = new ArrayList<>();
        List<TokenizerProvider> providers = new ArrayList<>(plugins.tokenizers().providers());
        providers.sort(Comparator.comparingInt(TokenizerProvider::priority).reversed());
        for (TokenizerProvider provider : providers) {
            try {
                return provider.load(path);
            } catch (KilnException e) {
                failures.add(provider.id() + ": " + e.getMessage());
            }
        }
        throw new KilnException("no tokenizer plugin reads " + path + " (" + String.join("; ", failures) + ")");
    }

    private static String input(String given) {
        if (given != null) {
            return given;
        }
        try {
            return new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KilnException("cannot read standard input: " + e.getMessage(), e);
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a vocabulary on a corpus and save it.")
    static final class Train implements Callable<Integer> {
        @ParentCommand
        TokenizerCommand parent;

        @Option(names = "--data", required = true, paramLabel = "PATH")
        Path data;

        @Option(names = "--tokenizer", paramLabel = "ID", defaultValue = "bpe")
        String tokenizer;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "e.g. tokenizer.json")
        Path out;

        @Parameters(paramLabel = "KEY=VALUE", description = "Tokenizer options, e.g. vocab_size=4096 pattern=cl100k.")
        List<String> options = new ArrayList<>();

        @Override
        public Integer call() {
            Corpus corpus = Corpus.read(data);
            long start = System.nanoTime();
            Options given = new Options(ConfigFiles.overrides(options));
            Tokenizer trained = parent.kiln.plugins().tokenizers().get(tokenizer).train(corpus.text(), given);
            trained.save(out);
            parent.kiln.out.printf(Locale.ROOT, "trained %s, vocabulary %d%s, in %.2f s → %s%n", tokenizer,
                    trained.vocabSize(), Trainer.vocabularyShortfall(given, trained), (System.nanoTime() - start) / 1e9,
                    out);
            return 0;
        }
    }

    @Command(name = "encode", mixinStandardHelpOptions = true,
            description = "Print the token ids of a text as JSON.")
    static final class Encode implements Callable<Integer> {
        @ParentCommand
        TokenizerCommand parent;

        @Option(names = "--tokenizer", required = true, paramLabel = "FILE",
                description = "A tokenizer.json, .tiktoken file, saved tokenizer, checkpoint or run directory.")
        Path tokenizer;

        @Option(names = "--type", paramLabel = "ID", description = "The tokenizer plugin that reads the file.")
        String type;

        @Option(names = "--text", paramLabel = "TEXT", description = "The text (default: standard input).")
        String text;

        @Option(names = "--allow-special", description = "Encode special tokens' texts as their ids.")
        boolean allowSpecial;

        @Override
        public Integer call() {
            Tokenizer loaded = load(parent.kiln.plugins(), tokenizer, type);
            String source = input(text);
            int[] ids = allowSpecial ? loaded.encode(source, loaded.specialTokens().keySet()) : loaded.encode(source);
            parent.kiln.out.println(Json.write(java.util.Arrays.stream(ids).boxed().toList()));
            return 0;
        }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true,
            description = "Print the text of a JSON array of token ids.")
    static final class Decode implements Callable<Integer> {
        @ParentCommand
        TokenizerCommand parent;

        @Option(names = "--tokenizer", required = true, paramLabel = "FILE")
        Path tokenizer;

        @Option(names = "--type", paramLabel = "ID")
        String type;

        @Option(names = "--ids", paramLabel = "JSON", description = "e.g. [464, 3290] (default: standard input).")
        String ids;

        @Override
        public Integer call() {
            Tokenizer loaded = load(parent.kiln.plugins(), tokenizer, type);
            Object parsed = Json.parse(input(ids).trim(), "--ids");
            if (!(parsed instanceof List<?> list) || !list.stream().allMatch(o -> o instanceof Long)) {
                throw new KilnException("--ids must be a JSON array of whole numbers, e.g. [464, 3290]");
            }
            for (Object o : list) {
                long id = (Long) o;
                if (id < 0 || id >= loaded.vocabSize()) {
                    throw new KilnException("token id " + id + " is outside the vocabulary (0.." + (loaded.vocabSize() - 1)
                            + ")");
                }
            }
            int[] tokens = list.stream().mapToInt(o -> (int) (long) (Long) o).toArray();
            parent.kiln.out.println(loaded.decode(tokens));
            return 0;
        }
    }
}
