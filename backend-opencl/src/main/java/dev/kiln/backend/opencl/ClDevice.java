package dev.kiln.backend.opencl;

import static org.jocl.CL.CL_CONTEXT_PLATFORM;
import static org.jocl.CL.CL_DEVICE_NAME;
import static org.jocl.CL.CL_DEVICE_SINGLE_FP_CONFIG;
import static org.jocl.CL.CL_DEVICE_TYPE;
import static org.jocl.CL.CL_DEVICE_TYPE_ALL;
import static org.jocl.CL.CL_DEVICE_TYPE_CPU;
import static org.jocl.CL.CL_DEVICE_TYPE_GPU;
import static org.jocl.CL.CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT;
import static org.jocl.CL.CL_PLATFORM_NAME;
import static org.jocl.CL.CL_PROGRAM_BUILD_LOG;
import static org.jocl.CL.clBuildProgram;
import static org.jocl.CL.clCreateCommandQueueWithProperties;
import static org.jocl.CL.clCreateContext;
import static org.jocl.CL.clCreateKernel;
import static org.jocl.CL.clCreateProgramWithSource;
import static org.jocl.CL.clGetDeviceIDs;
import static org.jocl.CL.clGetDeviceInfo;
import static org.jocl.CL.clGetPlatformIDs;
import static org.jocl.CL.clGetPlatformInfo;
import static org.jocl.CL.clGetProgramBuildInfo;

import dev.kiln.api.KilnException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_kernel;
import org.jocl.cl_platform_id;
import org.jocl.cl_program;
import org.jocl.cl_queue_properties;

/**
 * One OpenCL device with its context, in-order queue and the kernels of {@code kernels.cl}, built once per device and
 * process and shared by every backend on it (PoCL and the GPU drivers also keep compiled binaries on disk).
 */
final class ClDevice {
    /** A device as found by enumeration: its platform, handle and names. */
    record Found(cl_platform_id platform, cl_device_id device, String platformName, String name, boolean gpu,
                 boolean cpu) {
        String label() {
            return name + " (" + platformName + ")";
        }
    }

    private static final Map<String, ClDevice> BUILT = new ConcurrentHashMap<>();

    final Found found;
    final cl_context context;
    final cl_command_queue queue;
    private final Map<String, cl_kernel> kernels = new ConcurrentHashMap<>();
    private final cl_program program;

    private ClDevice(Found found) {
        this.found = found;
        cl_context_properties properties = new cl_context_properties();
        properties.addProperty(CL_CONTEXT_PLATFORM, found.platform());
        context = clCreateContext(properties, 1, new cl_device_id[] {found.device()}, null, null, null);
        queue = clCreateCommandQueueWithProperties(context, found.device(), new cl_queue_properties(), null);
        program = clCreateProgramWithSource(context, 1, new String[] {source()}, null, null);
        String options = correctlyRoundedDivideSqrt(found.device()) ? "-cl-fp32-correctly-rounded-divide-sqrt" : "";
        try {
            clBuildProgram(program, 0, null, options, null, null);
        } catch (CLException e) {
            throw new KilnException("opencl: kernels.cl does not build on " + found.label() + ": " + e.getMessage()
                    + "\n" + buildLog(program, found.device()));
        }
    }

    /** The device for this choice (index or name; null: the first GPU, else the first device), built once. */
    static ClDevice open(String choice) {
        Found found = choose(choice);
        return BUILT.computeIfAbsent(found.label() + "#" + found.device(),
                key -> HostSignals.preserving(() -> new ClDevice(found)));
    }

    cl_kernel kernel(String name) {
        return kernels.computeIfAbsent(name, n -> {
            try {
                return clCreateKernel(program, n, null);
            } catch (CLException e) {
                throw new KilnException("opencl: no kernel " + n + " on " + found.label() + ": " + e.getMessage());
            }
        });
    }

    /**
     * Every device of every platform, in platform order, with the JVM's signal handlers kept (the driver may install
     * its own while it sets its devices up). Throws what OpenCL throws (the probe catches it).
     */
    static List<Found> devices() {
        return HostSignals.preserving(ClDevice::enumerate);
    }

    private static List<Found> enumerate() {
        CL.setExceptionsEnabled(true);
        int[] count = new int[1];
        clGetPlatformIDs(0, null, count);
        cl_platform_id[] platforms = new cl_platform_id[count[0]];
        if (platforms.length > 0) {
            clGetPlatformIDs(platforms.length, platforms, null);
        }
        List<Found> found = new ArrayList<>();
        for (cl_platform_id platform : platforms) {
            int[] n = new int[1];
            try {
                clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, null, n);
            } catch (CLException noDevices) {
                continue;                                     // CL_DEVICE_NOT_FOUND on an empty platform
            }
            cl_device_id[] ids = new cl_device_id[n[0]];
            clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, ids.length, ids, null);
            String platformName = platformString(platform, CL_PLATFORM_NAME);
            for (cl_device_id id : ids) {
                long[] type = new long[1];
                clGetDeviceInfo(id, CL_DEVICE_TYPE, Sizeof.cl_long, Pointer.to(type), null);
                found.add(new Found(platform, id, platformName, deviceString(id, CL_DEVICE_NAME),
                        (type[0] & CL_DEVICE_TYPE_GPU) != 0, (type[0] & CL_DEVICE_TYPE_CPU) != 0));
            }
        }
        return found;
    }

    static Found choose(String choice) {
        List<Found> all = devices();
        if (all.isEmpty()) {
            throw new KilnException("opencl: no device on any OpenCL platform");
        }
        if (choice == null || choice.isBlank()) {
            return all.stream().filter(Found::gpu).findFirst().orElse(all.getFirst());
        }
        try {
            int index = Integer.parseInt(choice.trim());
            if (index < 0 || index >= all.size()) {
                throw new KilnException("opencl: device " + index + " does not exist; devices: " + describe(all));
            }
            return all.get(index);
        } catch (NumberFormatException byName) {
            String wanted = choice.trim().toLowerCase(Locale.ROOT);
            return all.stream().filter(f -> f.label().toLowerCase(Locale.ROOT).contains(wanted)).findFirst()
                    .orElseThrow(() -> new KilnException("opencl: no device matches '" + choice + "'; devices: "
                            + describe(all)));
        }
    }

    static String describe(List<Found> all) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            names.add(i + ": " + all.get(i).label());
        }
        return String.join(", ", names);
    }

    private static boolean correctlyRoundedDivideSqrt(cl_device_id device) {
        long[] config = new long[1];
        clGetDeviceInfo(device, CL_DEVICE_SINGLE_FP_CONFIG, Sizeof.cl_long, Pointer.to(config), null);
        return (config[0] & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    }

    private static String source() {
        try (InputStream in = ClDevice.class.getResourceAsStream("kernels.cl")) {
            if (in == null) {
                throw new KilnException("opencl: kernels.cl is missing from the backend's jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KilnException("opencl: cannot read kernels.cl: " + e.getMessage(), e);
        }
    }

    private static String buildLog(cl_program program, cl_device_id device) {
        long[] size = new long[1];
        clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, null, size);
        byte[] log = new byte[(int) size[0]];
        clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, log.length, Pointer.to(log), null);
        return new String(log, StandardCharsets.UTF_8).trim();
    }

    private static String deviceString(cl_device_id device, int parameter) {
        long[] size = new long[1];
        clGetDeviceInfo(device, parameter, 0, null, size);
        byte[] bytes = new byte[(int) size[0]];
        clGetDeviceInfo(device, parameter, bytes.length, Pointer.to(bytes), null);
        return new String(bytes, 0, Math.max(0, bytes.length - 1), StandardCharsets.UTF_8).trim();
    }

    private static String platformString(cl_platform_id platform, int parameter) {
        long[] size = new long[1];
        clGetPlatformInfo(platform, parameter, 0, null, size);
        byte[] bytes = new byte[(int) size[0]];
        clGetPlatformInfo(platform, parameter, bytes.length, Pointer.to(bytes), null);
        return new String(bytes, 0, Math.max(0, bytes.length - 1), StandardCharsets.UTF_8).trim();
    }
}
