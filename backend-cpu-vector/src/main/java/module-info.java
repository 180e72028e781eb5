/** The CPU backend: kernels on the Vector API with scalar tails, on a thread pool it owns. Provider id {@code cpu}. */
module dev.kiln.backend.cpu {
    requires dev.kiln.api;
    requires jdk.incubator.vector;

    exports dev.kiln.backend.cpu;

    provides dev.kiln.api.backend.BackendProvider with dev.kiln.backend.cpu.CpuBackendProvider;
}
