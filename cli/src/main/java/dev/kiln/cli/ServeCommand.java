package dev.kiln.cli;

import dev.kiln.serve.KilnServer;
import dev.kiln.serve.ServeSettings;
import dev.kiln.serve.ServedModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code kiln serve}: the OpenAI-compatible server over a checkpoint, until Ctrl-C or SIGTERM, which give running
 * streams the grace period to finish before the server goes.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a checkpoint (or a Hugging Face GPT-2 snapshot) over OpenAI's HTTP API: /v1/models, "
                + "/v1/completions, /v1/chat/completions, /health, /metrics.")
final class ServeCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR",
            description = "A checkpoint, a run directory (its best checkpoint) or a Hugging Face GPT-2 snapshot.")
    Path checkpoint;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter directory to put on the "
            + "checkpoint's model, as PeftModel.from_pretrained(base, DIR) does.")
    Path adapter;

    @Option(names = "--backend", paramLabel = "ID", defaultValue = "cpu")
    String backend;

    @Option(names = "--host", paramLabel = "ADDRESS", defaultValue = "127.0.0.1",
            description = "The address to listen on (default ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8000", description = "Default ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--parallel", paramLabel = "N", defaultValue = "4",
            description = "Sequences decoded together, one KV-cache slot each (default ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--queue", paramLabel = "N", defaultValue = "64",
            description = "Sequences that may wait for a slot before requests get 429 (default ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--model-id", paramLabel = "ID",
            description = "The id clients name in \"model\" (default: the checkpoint directory's name).")
    String modelId;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require Authorization: Bearer KEY (default: the KILN_API_KEY environment variable, "
                    + "else no key).")
    String apiKey;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "1048576",
            description = "The largest request body (default ${DEFAULT-VALUE}); larger ones get 413.")
    int maxBody;

    @Option(names = "--prefill-chunk", paramLabel = "TOKENS", defaultValue = "128",
            description = "Prompt tokens read between two decode steps (default ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--max-length", paramLabel = "TOKENS", defaultValue = "4096",
            description = "Prompt and answer tokens per sequence for a model without a context limit (an LSTM); a "
                    + "Transformer keeps its own context (default ${DEFAULT-VALUE}).")
    int maxLength;

    @Override
    public Integer call() throws InterruptedException {
        String key = apiKey != null ? apiKey : System.getenv("KILN_API_KEY");
        ServeSettings settings = new ServeSettings(host, port, key, modelId, parallel, queue, prefillChunk, maxLength,
                maxBody, Duration.ofSeconds(10));
        CountDownLatch stopped = new CountDownLatch(1);
        try (ServedModel served = ServedModel.load(kiln.plugins(), checkpoint, adapter, backend, modelId);
             KilnServer server = KilnServer.start(served, settings);
             Interruption interruption = Interruption.onSignal(() -> {
                 server.shutdown();
                 stopped.countDown();
             })) {
            kiln.out.println("serving " + server.modelId() + " at " + server.baseUrl() + " (" + parallel + " slots"
                    + (key != null ? ", API key required" : "") + "); Ctrl-C stops");
            kiln.out.flush();
            stopped.await();
        }
        return 0;
    }
}
