package dev.kiln.cli;

import dev.kiln.api.model.Sampling;
import dev.kiln.api.model.TextGeneration;
import dev.kiln.trainer.TokenTextStream;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code kiln generate}: continues a prompt from a checkpoint, printing tokens as they are chosen. */
@Command(name = "generate", description = "Continue a prompt with a trained model, streaming the text.")
final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.ParentCommand
    Kiln kiln;

    @picocli.CommandLine.Mixin
    LoadedModel.Source model;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT")
    String prompt;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "200")
    int maxTokens;

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
            int[] ids = loaded.tokenizer().encode(prompt);
            if (ids.length == 0) {
                throw new dev.kiln.api.KilnException("the prompt encodes to no tokens; give at least one character");
            }
            Set<Integer> stop = loaded.tokenizer().specialTokens().containsKey("<|endoftext|>")
                    ? Set.of(loaded.tokenizer().specialTokens().get("<|endoftext|>")) : Set.of();
            Sampling sampling = new Sampling(temperature, topK, topP, seed, maxTokens, stop);
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
}
