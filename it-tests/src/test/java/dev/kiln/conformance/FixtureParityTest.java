package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * PyTorch parity for what the api builds itself: the cross-entropy of each fixture's logits, and one Adam and one AdamW
 * step for every parameter from the fixture's gradients. Loops over every fixture file, reading hyperparameters from
 * its metadata, on every backend configuration.
 */
class FixtureParityTest {
    private static final List<Backend> OPEN = new ArrayList<>();

    static List<Path> fixtureFiles() throws IOException {
        try (Stream<Path> files = Files.list(SharedData.fixtures())) {
            List<Path> found = files.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
            assertFalse(found.isEmpty(), "no fixtures in " + SharedData.fixtures());
            return found;
        }
    }

    @TestFactory
    Stream<DynamicTest> crossEntropyAndOptimizerSteps() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Backends.Configured configured : Backends.configurations()) {
            Backend backend = configured.provider().create(configured.config());
            OPEN.add(backend);
            for (Path file : fixtureFiles()) {
                String label = configured.label() + " " + file.getFileName();
                tests.add(dynamicTest(label + ": cross-entropy", () -> crossEntropy(backend, SafeTensors.read(file))));
                tests.add(dynamicTest(label + ": Adam step", () -> optimizerStep(backend, SafeTensors.read(file), false)));
                tests.add(dynamicTest(label + ": AdamW step", () -> optimizerStep(backend, SafeTensors.read(file), true)));
            }
        }
        return tests.stream();
    }

    private static void crossEntropy(Backend backend, SafeTensors f) {
        Tensor logits = Tensor.of(backend, f.floats("logits"), f.shape("logits"));
        Tensor targets = Tensor.ofInts(backend, f.ints("targets"), f.shape("targets"));
        float expected = f.floats("loss")[0];
        float loss = logits.crossEntropy(targets, -100).item();
        assertEquals(expected, loss, 1e-5 * Math.abs(expected), f.file() + " loss");
    }

    /** Parses "lr=0.01 betas=(0.9,0.999) eps=1e-8 weight_decay=0.1" from the fixture metadata. */
    static Map<String, Double> hyperparameters(String text) {
        Map<String, Double> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("(\\w+)=(\\([^)]*\\)|\\S+)").matcher(text);
        while (m.find()) {
            String value = m.group(2);
            if (value.startsWith("(")) {
                String[] parts = value.substring(1, value.length() - 1).split(",");
                out.put(m.group(1) + "0", Double.parseDouble(parts[0].trim()));
                out.put(m.group(1) + "1", Double.parseDouble(parts[1].trim()));
            } else {
                out.put(m.group(1), Double.parseDouble(value));
            }
        }
        return out;
    }

    private static void optimizerStep(Backend backend, SafeTensors f, boolean decoupled) {
        String key = decoupled ? "adamw" : "adam";
        Map<String, Double> h = hyperparameters(f.metadata().get(key));
        Map<String, Tensor> parameters = new LinkedHashMap<>();
        for (String name : f.names()) {
            if (name.startsWith("grad.")) {
                String parameter = name.substring("grad.".length());
                Tensor p = Tensor.of(backend, f.floats(parameter), f.shape(parameter)).requiresGrad(true);
                p.setGrad(Tensor.of(backend, f.floats(name), f.shape(name)));
                parameters.put(parameter, p);
            }
        }
        assertFalse(parameters.isEmpty(), f.file() + " has no gradients");
        Adam optimizer = new Adam(List.of(ParamGroup.of(parameters, h.getOrDefault("weight_decay", 0.0))),
                h.get("lr"), h.get("betas0"), h.get("betas1"), h.get("eps"), decoupled);
        optimizer.step();
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            float[] expected = f.floats(key + "1." + e.getKey());
            BackendConformanceKit.assertClose(f.file().getFileName() + " " + key + " " + e.getKey(), expected,
                    e.getValue().toFloatArray(), 1e-6, 1e-5);
        }
    }

    @AfterAll
    static void close() {
        OPEN.forEach(Backend::close);
    }
}
