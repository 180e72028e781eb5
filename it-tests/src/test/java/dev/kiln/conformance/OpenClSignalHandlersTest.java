package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.MemoryScope;
import dev.kiln.api.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

/**
 * The JVM keeps its signal handlers through OpenCL: PoCL's LLVM installs crash handlers when it sets its devices up,
 * and a JVM whose SIGSEGV handler is gone dies at its next safepoint poll or implicit null check ("Segmentation
 * fault", no error report). The handlers are read here with a {@code sigaction} of the test's own.
 */
class OpenClSignalHandlersTest {
    private static final int SIGILL = 4;
    private static final int SIGFPE = 8;
    private static final int SIGBUS = 7;
    private static final int SIGSEGV = 11;
    private static final int SIGPIPE = 13;
    private static final int[] FATAL = {SIGILL, SIGBUS, SIGFPE, SIGSEGV};

    @Test
    void probingCreatingAndRunningKernelsLeaveTheJvmHandlersInPlace() throws Throwable {
        BackendProvider provider = Backends.registry().get("opencl");
        long[] before = handlers();
        assumeTrue(provider.probe().available(), () -> "no OpenCL device: " + provider.probe().reason());
        Backend backend = provider.create(Options.defaults());
        try (MemoryScope scope = MemoryScope.open()) {
            Generator generator = new Generator(3);
            Tensor a = Tensor.randn(backend, generator, 33, 17);
            Tensor b = Tensor.randn(backend, generator, 17, 9);
            a.matmul(b).softmax(-1).sum().item();
        }
        long[] after = handlers();
        assertArrayEquals(before, after, "signal handlers changed by the opencl backend (SIGILL, SIGBUS, SIGFPE, "
                + "SIGSEGV)");
        // the JVM installs one handler for all of these and for SIGPIPE, which LLVM leaves alone: so these are the
        // JVM's even if another test reached OpenCL first
        long jvm = handler(SIGPIPE);
        assertNotEquals(0L, jvm);
        for (int i = 0; i < FATAL.length; i++) {
            assertEquals(jvm, after[i], "the handler of signal " + FATAL[i] + " is not the JVM's");
        }
    }

    private static long[] handlers() throws Throwable {
        long[] out = new long[FATAL.length];
        for (int i = 0; i < FATAL.length; i++) {
            out[i] = handler(FATAL[i]);
        }
        return out;
    }

    /** sa_handler of the signal's current struct sigaction (its first member on Linux and macOS). */
    private static long handler(int signal) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle sigaction = linker.downcallHandle(linker.defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(256);
            assertEquals(0, (int) sigaction.invokeExact(signal, MemorySegment.NULL, action));
            return action.get(ValueLayout.JAVA_LONG, 0);
        }
    }
}
