/**
 * The OpenCL backend: every Backend primitive and the fused operations as OpenCL C kernels (kernels.cl), through JOCL
 * (automatic module {@code jocl}, whose native library needs {@code --enable-native-access=jocl}).
 */
module dev.kiln.backend.opencl {
    requires dev.kiln.api;
    requires jocl;

    provides dev.kiln.api.backend.BackendProvider with dev.kiln.backend.opencl.OpenClBackendProvider;
}
