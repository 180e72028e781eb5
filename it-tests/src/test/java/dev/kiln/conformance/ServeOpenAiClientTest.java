package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.io.Json;
import dev.kiln.serve.KilnServer;
import dev.kiln.serve.ServeSettings;
import dev.kiln.serve.ServedModel;
import dev.kiln.trainer.Plugins;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official {@code openai} npm client against {@code kiln serve} on loopback ({@code src/test/node}): models, a
 * completion, stop sequences, logprobs, a streamed chat with usage, errors as the client's typed exceptions, and 16
 * concurrent streams. CI installs Node's package ({@code .ci/run}) and the test never skips there.
 */
class ServeOpenAiClientTest {
    private static final Path CLIENT = Path.of("src/test/node").toAbsolutePath();

    private static boolean ready() {
        if (!Files.isDirectory(CLIENT.resolve("node_modules/openai"))) {
            return false;
        }
        try {
            return new ProcessBuilder("node", "--version").start().waitFor() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void theOfficialClientWorksAgainstTheServer(@TempDir Path dir) throws Exception {
        boolean ready = ready();
        if ("true".equals(System.getenv("CI"))) {
            assertTrue(ready, "CI must install node and the openai package (npm ci in " + CLIENT + ")");
        }
        assumeTrue(ready, "node or the openai package is missing: npm ci in " + CLIENT);
        Path snapshot = SharedData.fixtures().resolve("hf_gpt2_tiny");
        for (String file : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            Files.copy(snapshot.resolve(file), dir.resolve(file));
        }
        Files.writeString(dir.resolve("tokenizer_config.json"),
                Json.write(Map.of("chat_template", ChatTemplate.ALPACA.jinja())));
        try (ServedModel served = ServedModel.load(Plugins.load(ModuleLayer.boot()), dir, null, "cpu", "tiny");
             KilnServer server = KilnServer.start(served, ServeSettings.defaults().withPort(0).withParallel(16))) {
            Process node = new ProcessBuilder("node", "openai-client.mjs", server.baseUrl(), server.modelId())
                    .directory(CLIENT.toFile()).redirectErrorStream(true).start();
            boolean finished = node.waitFor(3, TimeUnit.MINUTES);
            if (!finished) {
                node.destroyForcibly();
            }
            String output = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(finished, "the client finished within 3 minutes:\n" + output);
            assertEquals(0, node.exitValue(), output);
            assertTrue(output.contains("all openai client checks passed"), output);
        }
    }
}
