package dev.kiln.backend.opencl;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.Availability;
import dev.kiln.api.plugin.Options;
import java.util.List;
import java.util.Set;

/**
 * Provider id {@code opencl}. Options: {@code device}, an index into every platform's devices in order, or part of a
 * device's name (default: the first GPU, else the first device); {@code matmul}, {@code tiled} (local-memory tiles, for
 * GPUs), {@code rows} (register-blocked rows, for CPU devices) or {@code auto} (by device type, the default).
 */
public final class OpenClBackendProvider implements BackendProvider {
    public static final String ID = "opencl";

    @Override
    public String id() {
        return ID;
    }

    @Override
    public int priority() {
        return 5;
    }

    /** Finds a platform and a device without building anything; says what is missing otherwise. Never throws. */
    @Override
    public Availability probe() {
        try {
            List<ClDevice.Found> devices = ClDevice.devices();
            return devices.isEmpty() ? Availability.no("no OpenCL device on any platform") : Availability.yes();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            return Availability.no("the OpenCL library could not be loaded (install an OpenCL ICD, e.g. "
                    + "pocl-opencl-icd and ocl-icd-opencl-dev): " + e.getMessage());
        } catch (Throwable e) {
            String message = String.valueOf(e.getMessage());
            return Availability.no(message.contains("CL_PLATFORM_NOT_FOUND") || message.contains("-1001")
                    ? "no OpenCL platform" : "OpenCL failed: " + message);
        }
    }

    @Override
    public Backend create(Options config) {
        config.requireOnly(ID, Set.of("device", "matmul"));
        String matmul = config.string("matmul", "auto");
        if (!Set.of("auto", "tiled", "rows").contains(matmul)) {
            throw new KilnException("opencl backend: matmul=" + matmul + "; choose auto, tiled or rows");
        }
        Availability availability = probe();
        if (!availability.available()) {
            throw new KilnException("opencl backend: " + availability.reason());
        }
        ClDevice device = ClDevice.open(config.string("device", null));
        return new OpenClBackend(device, matmul.equals("rows") || (matmul.equals("auto") && device.found.cpu()));
    }
}
