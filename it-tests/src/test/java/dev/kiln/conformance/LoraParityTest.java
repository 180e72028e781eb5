package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.Json;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.model.transformer.HuggingFaceGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA against PEFT: every {@code lora_*} folder in KILN_FIXTURES holds a Hugging Face base, a PEFT adapter and what
 * PEFT computed with them. Kiln loads base + adapter and must match the logits and loss, the gradient of every LoRA
 * parameter (the base frozen: no other parameter gets one), and {@code merge_and_unload()}'s weights, on every
 * backend configuration.
 */
class LoraParityTest {
    private static final List<Backend> OPEN = new ArrayList<>();

    static List<Path> fixtures() throws IOException {
        try (Stream<Path> files = Files.list(SharedData.fixtures())) {
            List<Path> found = files.filter(p -> Files.isDirectory(p) && p.getFileName().toString().startsWith("lora_"))
                    .sorted().toList();
            assertFalse(found.isEmpty(), "no lora_* fixture in " + SharedData.fixtures());
            return found;
        }
    }

    @TestFactory
    Stream<DynamicTest> matchesPeft() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Backends.Configured configured : Backends.configurations()) {
            Backend backend = configured.provider().create(configured.config());
            OPEN.add(backend);
            for (Path folder : fixtures()) {
                tests.add(dynamicTest(configured.label() + " " + folder.getFileName(), () -> check(backend, folder)));
            }
        }
        return tests.stream();
    }

    private static void check(Backend backend, Path folder) {
        SafeTensors expected = SafeTensors.read(folder.resolve("expected.safetensors"));
        LanguageModel model = HuggingFaceGpt2.load(backend, folder.resolve("base"));
        PeftAdapter adapter = PeftAdapter.read(folder.resolve("adapter"));
        adapter.attach(model, new Generator(0));
        model.train(true);

        int[] shape = expected.shape("input_ids");
        Tensor ids = Tensor.ofInts(backend, expected.ints("input_ids"), shape);
        Tensor targets = Tensor.ofInts(backend, expected.ints("targets"), shape);
        Tensor logits = model.forward(ids);
        assertRelative(folder.getFileName() + " logits", expected.floats("logits"), logits.toFloatArray(), 1e-5);
        Tensor loss = logits.crossEntropy(targets, -100);
        BackendConformanceKit.assertClose(folder.getFileName() + " loss", expected.floats("loss"),
                loss.toFloatArray(), 0, 1e-5);
        loss.backward();

        Map<String, Tensor> trainable = model.namedTrainableParameters();
        assertEquals(model.namedAdapterParameters().keySet(), trainable.keySet(), "only the adapter trains");
        int compared = 0;
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            String key = "grad." + PeftAdapter.PREFIX + e.getKey();
            if (trainable.containsKey(e.getKey())) {
                assertTrue(expected.contains(key), "PEFT gives no gradient for " + key);
                assertRelative(folder.getFileName() + " " + key, expected.floats(key),
                        e.getValue().grad().toFloatArray(), 1e-4);
                compared++;
            } else {
                assertEquals(null, e.getValue().grad(), e.getKey() + " is frozen but got a gradient");
            }
        }
        assertEquals(expected.names().stream().filter(n -> n.startsWith("grad.")).count(), compared,
                "every PEFT gradient has a Kiln parameter");

        model.mergeAdapters();
        assertTrue(model.namedAdapterParameters().isEmpty(), "merging detaches the adapters");
        int merged = 0;
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            String key = "merged." + e.getKey();
            assertTrue(expected.contains(key), "PEFT's merged model has no " + e.getKey());
            BackendConformanceKit.assertClose(folder.getFileName() + " " + key, expected.floats(key),
                    e.getValue().toFloatArray(), 1e-7, 1e-6);
            merged++;
        }
        assertEquals(expected.names().stream().filter(n -> n.startsWith("merged.")).count(), merged);
    }

    /**
     * What Kiln writes is what PEFT reads: LoRA on a gpt of the fixture's shape, saved, has exactly the fixture
     * adapter's keys and shapes, and its adapter_config.json has the fixture's fields with the same values for every
     * field that describes the adapter (PEFT itself cannot run here).
     */
    @Test
    void kilnAdaptersHavePeftsLayout(@TempDir Path dir) throws IOException {
        for (Path folder : fixtures()) {
            Backend backend = Backends.registry().get("cpu").create(Options.of("threads", "1"));
            try {
                LanguageModel model = HuggingFaceGpt2.load(backend, folder.resolve("base"));
                PeftAdapter theirs = PeftAdapter.read(folder.resolve("adapter"));
                theirs.config().apply(model, new Generator(0));
                Path ours = dir.resolve(folder.getFileName());
                PeftAdapter.of(model, theirs.config(), "").save(ours, model);

                SafeTensors expected = SafeTensors.read(folder.resolve("adapter/adapter_model.safetensors"));
                SafeTensors written = SafeTensors.read(ours.resolve(PeftAdapter.WEIGHTS));
                assertEquals(new TreeSet<>(expected.names()), new TreeSet<>(written.names()));
                for (String key : expected.names()) {
                    assertArrayEquals(expected.shape(key), written.shape(key), key);
                }
                Map<?, ?> reference = (Map<?, ?>) Json.parse(Files.readString(folder.resolve("adapter/"
                        + PeftAdapter.CONFIG)), "fixture");
                Map<?, ?> config = (Map<?, ?>) Json.parse(Files.readString(ours.resolve(PeftAdapter.CONFIG)), "ours");
                for (String field : List.of("peft_type", "r", "lora_alpha", "lora_dropout", "target_modules",
                        "fan_in_fan_out", "bias", "task_type", "use_dora", "use_rslora", "init_lora_weights",
                        "inference_mode", "rank_pattern", "alpha_pattern", "modules_to_save", "layers_to_transform",
                        "layers_pattern", "trainable_token_indices", "lora_bias", "revision")) {
                    assertTrue(config.containsKey(field), "adapter_config.json lacks " + field);
                    assertEquals(String.valueOf(reference.get(field)), String.valueOf(config.get(field)), field);
                }
                assertTrue(config.containsKey("base_model_name_or_path"));
            } finally {
                backend.close();
            }
        }
    }

    /**
     * Each element within {@code relative} of the tensor's largest magnitude (float32 sums in another order differ
     * by that much; an element-wise relative bound would fail on values near zero).
     */
    private static void assertRelative(String what, float[] expected, float[] actual, double relative) {
        double scale = 0;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        BackendConformanceKit.assertClose(what, expected, actual, relative * scale, relative);
    }

    @AfterAll
    static void close() {
        OPEN.forEach(Backend::close);
    }
}
