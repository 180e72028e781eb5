package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The model plugins against PyTorch: every {@code lstm_*} and {@code gpt2_*} fixture in KILN_FIXTURES, built from its
 * metadata through the registry, weights loaded by their reference names; logits, loss, every gradient and one Adam /
 * AdamW step must match (and the LSTM's h_n, c_n), on every backend configuration.
 */
class ModelParityTest {
    private static final List<Backend> OPEN = new ArrayList<>();

    static PluginRegistry<ModelProvider> models() {
        return PluginRegistry.load("model", ModelProvider.class, ModuleLayer.boot());
    }

    @TestFactory
    Stream<DynamicTest> matchesPyTorch() throws IOException {
        List<Path> fixtures;
        try (Stream<Path> files = Files.list(SharedData.fixtures())) {
            fixtures = files.filter(p -> p.getFileName().toString().matches("(lstm|gpt2)_.*\\.safetensors")).sorted()
                    .toList();
        }
        assertFalse(fixtures.stream().noneMatch(p -> p.getFileName().toString().startsWith("lstm_")), "no lstm fixture");
        assertFalse(fixtures.stream().noneMatch(p -> p.getFileName().toString().startsWith("gpt2_")), "no gpt2 fixture");
        List<DynamicTest> tests = new ArrayList<>();
        for (Backends.Configured configured : Backends.configurations()) {
            Backend backend = configured.provider().create(configured.config());
            OPEN.add(backend);
            for (Path file : fixtures) {
                tests.add(dynamicTest(configured.label() + " " + file.getFileName(), () -> check(backend, file)));
            }
        }
        return tests.stream();
    }

    /** Builds the fixture's model from its metadata (the keys its provider knows) and loads its weights. */
    static LanguageModel load(Backend backend, SafeTensors f) {
        Map<String, String> meta = f.metadata();
        boolean lstm = meta.get("model").equals("lstm");
        List<String> keys = lstm ? List.of("vocab_size", "embed_size", "hidden_size", "num_layers")
                : List.of("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "layer_norm_epsilon",
                        "activation_function");
        Map<String, String> chosen = new LinkedHashMap<>();
        for (String key : keys) {
            String value = key.equals("activation_function") ? meta.get("activation") : meta.get(key);
            if (value != null) {
                chosen.put(key, value);
            }
        }
        LanguageModel model = models().get(lstm ? "lstm" : "gpt").create(backend, new Options(chosen), new Generator(0));
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (String name : model.namedParameters().keySet()) {
            values.put(name, f.floats(name));
            shapes.put(name, f.shape(name));
        }
        model.loadStateDict(values, shapes);
        return model;
    }

    private static void check(Backend backend, Path file) {
        SafeTensors f = SafeTensors.read(file);
        LanguageModel model = load(backend, f);
        Tensor ids = Tensor.ofInts(backend, f.ints("input_ids"), f.shape("input_ids"));
        Tensor targets = Tensor.ofInts(backend, f.ints("targets"), f.shape("targets"));
        String name = file.getFileName().toString();
        Tensor logits = model.forward(ids);
        BackendConformanceKit.assertClose(name + " logits", f.floats("logits"), logits.toFloatArray(), 1e-5, 1e-5);
        if (model instanceof dev.kiln.model.lstm.LstmLanguageModel lstm) {
            checkFinalState(lstm, ids, f, name);
        }
        Tensor loss = logits.crossEntropy(targets, -100);
        float expectedLoss = f.floats("loss")[0];
        assertEquals(expectedLoss, loss.item(), 1e-5 * Math.abs(expectedLoss), name + " loss");
        loss.backward();
        model.namedParameters().forEach((parameter, p) -> BackendConformanceKit.assertClose(name + " grad " + parameter,
                f.floats("grad." + parameter), p.grad().toFloatArray(), 1e-7, 1e-4));
        checkOptimizerSteps(backend, f, name, () -> load(backend, f));
    }

    /**
     * One Adam and one AdamW step from the fixture's gradients, on freshly loaded models, against the fixture's
     * {@code adam1.*} and {@code adamw1.*} parameters.
     */
    static void checkOptimizerSteps(Backend backend, SafeTensors f, String name,
                                    java.util.function.Supplier<? extends LanguageModel> loader) {
        for (boolean decoupled : new boolean[] {false, true}) {
            LanguageModel fresh = loader.get();
            fresh.namedParameters().forEach((parameter, p) ->
                    p.setGrad(Tensor.of(backend, f.floats("grad." + parameter), p.shape())));
            Map<String, Double> h = FixtureParityTest.hyperparameters(f.metadata().get(decoupled ? "adamw" : "adam"));
            new Adam(List.of(ParamGroup.of(fresh.namedParameters(), h.getOrDefault("weight_decay", 0.0))), h.get("lr"),
                    h.get("betas0"), h.get("betas1"), h.get("eps"), decoupled).step();
            String prefix = decoupled ? "adamw1." : "adam1.";
            fresh.namedParameters().forEach((parameter, p) -> BackendConformanceKit.assertClose(
                    name + " " + prefix + parameter, f.floats(prefix + parameter), p.toFloatArray(), 1e-6, 1e-5));
        }
    }

    private static void checkFinalState(dev.kiln.model.lstm.LstmLanguageModel lstm, Tensor ids, SafeTensors f, String name) {
        var out = lstm.forward(ids, null);
        int layers = Integer.parseInt(f.metadata().get("num_layers"));
        float[] hN = f.floats("h_n");
        float[] cN = f.floats("c_n");
        int per = hN.length / layers;
        for (int k = 0; k < layers; k++) {
            BackendConformanceKit.assertClose(name + " h_n layer " + k, java.util.Arrays.copyOfRange(hN, k * per, (k + 1) * per),
                    out.state().h().get(k).toFloatArray(), 1e-6, 1e-5);
            BackendConformanceKit.assertClose(name + " c_n layer " + k, java.util.Arrays.copyOfRange(cN, k * per, (k + 1) * per),
                    out.state().c().get(k).toFloatArray(), 1e-6, 1e-5);
        }
    }

    @AfterAll
    static void close() {
        OPEN.forEach(Backend::close);
    }
}
