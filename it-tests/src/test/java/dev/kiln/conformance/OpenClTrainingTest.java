package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.GradientClipping;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The same experiments on the opencl backend as on cpu: both models train to the same losses, and device memory stays
 * flat over a long run. Skipped where no OpenCL device exists; CI installs PoCL and requires it (ConformanceTest).
 */
class OpenClTrainingTest {
    /** Relative difference allowed between the backends' losses after 20 Adam steps (float32, different sum orders). */
    private static final double TOLERANCE = 2e-3;

    private static ShakespeareBytes data;

    @BeforeAll
    static void read() throws IOException {
        data = new ShakespeareBytes();
    }

    private static BackendProvider opencl() {
        BackendProvider provider = Backends.registry().get("opencl");
        assumeTrue(provider.probe().available(), () -> "no OpenCL device: " + provider.probe().reason());
        return provider;
    }

    /** Per-step losses of {@code steps} AdamW steps on the same byte windows, from the same seed. */
    private static double[] losses(Backend backend, String model, Options options, int steps) {
        LanguageModel m = ModelParityTest.models().get(model).create(backend, options, new Generator(11));
        Optimizer optimizer = Adam.adamW(ParamGroup.decayMatricesOnly(m.namedParameters(), 0.1), 3e-3, 0.9, 0.99);
        SplittableRandom random = new SplittableRandom(5);
        double[] losses = new double[steps];
        for (int step = 0; step < steps; step++) {
            try (MemoryScope scope = MemoryScope.open()) {
                Tensor[] xy = data.window(backend, 0, data.split, 4, 32, random);
                Tensor loss = m.forward(xy[0]).crossEntropy(xy[1], -100);
                optimizer.zeroGrad();
                loss.backward();
                GradientClipping.clipGradNorm(m.parameters(), 1.0);
                optimizer.step();
                losses[step] = loss.item();
            }
        }
        return losses;
    }

    private static void assertSameTraining(String model, Options options) {
        BackendProvider opencl = opencl();
        double[] cpu;
        double[] device;
        try (Backend c = Backends.registry().get("cpu").create(Options.of("threads", "2"))) {
            cpu = losses(c, model, options, 20);
        }
        try (Backend o = opencl.create(Options.defaults())) {
            device = losses(o, model, options, 20);
        }
        for (int step = 0; step < cpu.length; step++) {
            double relative = Math.abs(cpu[step] - device[step]) / Math.abs(cpu[step]);
            assertTrue(relative < TOLERANCE, model + " step " + step + ": cpu " + cpu[step] + ", opencl " + device[step]);
        }
        assertTrue(device[19] < device[0] - 0.3, model + " learns on opencl: " + device[0] + " → " + device[19]);
    }

    @Test
    void gptTrainsOnOpenClAsOnCpu() {
        assertSameTraining("gpt", Options.of("vocab_size", "256", "n_positions", "32", "n_layer", "2", "n_head", "2",
                "n_embd", "32", "dropout", "0.1"));
    }

    @Test
    void lstmTrainsOnOpenClAsOnCpu() {
        assertSameTraining("lstm", Options.of("vocab_size", "256", "embed_size", "32", "hidden_size", "48",
                "num_layers", "2"));
    }

    @Test
    void devicesAreChosenByIndexOrNameAndAWrongChoiceListsThem() {
        BackendProvider provider = opencl();
        try (Backend first = provider.create(Options.of("device", "0"))) {
            assertEquals("opencl", first.id());
        }
        dev.kiln.api.KilnException e = org.junit.jupiter.api.Assertions.assertThrows(dev.kiln.api.KilnException.class,
                () -> provider.create(Options.of("device", "no-such-accelerator")));
        assertTrue(e.getMessage().contains("no-such-accelerator") && e.getMessage().contains("0: "), e.getMessage());
        dev.kiln.api.KilnException typo = org.junit.jupiter.api.Assertions.assertThrows(
                dev.kiln.api.KilnException.class, () -> provider.create(Options.of("devices", "0")));
        assertTrue(typo.getMessage().contains("devices"), typo.getMessage());
    }

    @Test
    void aThousandStepsHoldAFlatDeviceMemoryCount() {
        try (Backend backend = opencl().create(Options.defaults())) {
            LanguageModel model = ModelParityTest.models().get("gpt").create(backend, Options.of("vocab_size", "256",
                    "n_positions", "16", "n_layer", "1", "n_head", "2", "n_embd", "16"), new Generator(3));
            Optimizer optimizer = Adam.adamW(ParamGroup.decayMatricesOnly(model.namedParameters(), 0.1), 1e-3, 0.9,
                    0.99);
            SplittableRandom random = new SplittableRandom(1);
            long afterWarmUp = -1;
            for (int step = 1; step <= 1000; step++) {
                try (MemoryScope scope = MemoryScope.open()) {
                    Tensor[] xy = data.window(backend, 0, data.split, 2, 16, random);
                    Tensor loss = model.forward(xy[0]).crossEntropy(xy[1], -100);
                    optimizer.zeroGrad();
                    loss.backward();
                    optimizer.step();
                }
                if (step == 10) {
                    afterWarmUp = backend.liveStorages();    // parameters, gradients and Adam moments exist by now
                }
            }
            assertEquals(afterWarmUp, backend.liveStorages(), "device buffers after step 10 and after step 1000");
        }
    }
}
