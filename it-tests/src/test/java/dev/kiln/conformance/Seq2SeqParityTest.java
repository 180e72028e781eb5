package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The {@code seq2seq} model against PyTorch's {@code nn.Transformer}: every {@code seq2seq_*} fixture in KILN_FIXTURES,
 * built from its metadata through the registry, weights loaded by their PyTorch names; logits, loss, every gradient
 * and one Adam / AdamW step must match, on every backend configuration.
 */
class Seq2SeqParityTest {
    private static final List<Backend> OPEN = new ArrayList<>();
    /** The fixture metadata keys that are model options (the rest describe the batch or the run). */
    private static final Set<String> MODEL_KEYS = Set.of("vocab_size", "d_model", "nhead", "num_encoder_layers",
            "num_decoder_layers", "dim_feedforward", "dropout", "activation", "norm_first", "layer_norm_eps",
            "positions");

    static List<Path> fixtures() throws IOException {
        try (Stream<Path> files = Files.list(SharedData.fixtures())) {
            List<Path> found = files.filter(p -> p.getFileName().toString().matches("seq2seq_.*\\.safetensors"))
                    .sorted().toList();
            assertFalse(found.isEmpty(), "no seq2seq fixture in " + SharedData.fixtures());
            return found;
        }
    }

    @TestFactory
    Stream<DynamicTest> matchesPyTorch() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Backends.Configured configured : Backends.configurations()) {
            Backend backend = configured.provider().create(configured.config());
            OPEN.add(backend);
            for (Path file : fixtures()) {
                tests.add(dynamicTest(configured.label() + " " + file.getFileName(), () -> check(backend, file)));
            }
        }
        return tests.stream();
    }

    /** Builds the fixture's model from its metadata and loads its weights by their PyTorch names. */
    static EncoderDecoderModel load(Backend backend, SafeTensors f) {
        Map<String, String> options = new LinkedHashMap<>();
        f.metadata().forEach((key, value) -> {
            if (MODEL_KEYS.contains(key)) {
                options.put(key, value);
            }
        });
        LanguageModel model = ModelParityTest.models().get("seq2seq").create(backend, new Options(options),
                new Generator(0));
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (String name : model.namedParameters().keySet()) {
            values.put(name, f.floats(name));
            shapes.put(name, f.shape(name));
        }
        model.loadStateDict(values, shapes);
        model.train(true);
        return (EncoderDecoderModel) model;
    }

    static ModelInputs inputs(Backend backend, SafeTensors f) {
        return ModelInputs.of(Map.of(
                        ModelInputs.SOURCE_IDS, Tensor.ofInts(backend, f.ints("src_ids"), f.shape("src_ids")),
                        ModelInputs.TARGET_IDS, Tensor.ofInts(backend, f.ints("tgt_ids"), f.shape("tgt_ids"))),
                Map.of(ModelInputs.SOURCE_LENGTHS, f.ints("src_lengths"),
                        ModelInputs.TARGET_LENGTHS, f.ints("tgt_lengths")));
    }

    private static void check(Backend backend, Path file) {
        SafeTensors f = SafeTensors.read(file);
        String name = file.getFileName().toString();
        EncoderDecoderModel model = load(backend, f);
        assertEquals(f.names().stream().filter(n -> n.startsWith("grad.")).count(), model.namedParameters().size(),
                name + ": the model's parameters are the fixture's");
        Tensor logits = model.forward(inputs(backend, f));
        BackendConformanceKit.assertClose(name + " logits", f.floats("logits"), logits.toFloatArray(), 1e-5, 1e-5);
        Tensor targets = Tensor.ofInts(backend, f.ints("targets"), f.shape("targets"));
        Tensor loss = logits.crossEntropy(targets, -100);
        float expectedLoss = f.floats("loss")[0];
        assertEquals(expectedLoss, loss.item(), 1e-5 * Math.abs(expectedLoss), name + " loss");
        loss.backward();
        model.namedParameters().forEach((parameter, p) -> BackendConformanceKit.assertClose(name + " grad " + parameter,
                f.floats("grad." + parameter), p.grad().toFloatArray(), 1e-7, 1e-4));
        ModelParityTest.checkOptimizerSteps(backend, f, name, () -> load(backend, f));
    }

    @AfterAll
    static void close() {
        OPEN.forEach(Backend::close);
    }
}
