package dev.kiln.backend.cpu;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.Availability;
import java.util.Set;

/**
 * Provider id {@code cpu}. Options: {@code threads} (default: all cores), {@code vector.bits} (0 for the scalar
 * path, or this JVM's vector width, the default; other widths are chosen at JVM start with
 * {@code -Dkiln.cpu.vectorBits}) and {@code poison} (default false: true fills uninitialized outputs with NaN, to
 * test that every operation writes all of its output).
 */
public final class CpuBackendProvider implements BackendProvider {
    public static final String ID = "cpu";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Availability probe() {
        try {
            return Vectors.LANES >= 1 ? Availability.yes() : Availability.no("no float vector species");
        } catch (Throwable e) {
            return Availability.no("the Vector API is not usable: " + e);
        }
    }

    @Override
    public Backend create(Options config) {
        config.requireOnly(ID, Set.of("threads", "vector.bits", "poison"));
        int threads = config.intOption("threads", Runtime.getRuntime().availableProcessors());
        int bits = config.intOption("vector.bits", Vectors.F.vectorBitSize());
        if (bits != 0 && bits != Vectors.F.vectorBitSize()) {
            throw new KilnException("cpu backend: vector.bits=" + bits + " is not available in this JVM; use 0 (scalar) or "
                    + Vectors.F.vectorBitSize() + " (start the JVM with -Dkiln.cpu.vectorBits=" + bits
                    + " for another width)");
        }
        return new CpuBackend(threads, bits != 0, config.booleanOption("poison", false));
    }
}
