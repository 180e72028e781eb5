package dev.kiln.backend.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Keeps the JVM's signal handlers through calls into an OpenCL driver. PoCL initialises LLVM when it enumerates its
 * devices, and LLVM installs its crash handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and the other fatal signals over
 * whatever the process had. The JVM depends on its own SIGSEGV handler (safepoint polls, implicit null checks), so
 * from then on the next such fault in any Java thread ends the process with a bare "Segmentation fault" and no error
 * report, seconds or minutes later and in code unrelated to OpenCL, even in a run on the cpu backend that only probed
 * for OpenCL.
 *
 * <p>{@link #preserving} reads the handler of every standard signal before the call and puts each back after it, so
 * the driver's handlers live only while the driver itself runs. It calls {@code sigaction} through the foreign
 * linker, which wants native access for this module ({@code --enable-native-access=dev.kiln.backend.opencl}, which
 * Kiln's launcher, tests and benchmarks pass); without it the JDK prints its restricted-method warning once and the
 * guard still works, because a process that dies later is worse than a warning. Only where native access is denied
 * or the C library has no {@code sigaction} (Windows, whose drivers leave signals alone) does the call run unguarded.
 * Calls are serialised: two overlapping guards could otherwise save one another's driver handlers and put those
 * back.
 */
final class HostSignals {
    /** Signals 1 to 31: the standard ones, where the JVM's and LLVM's handlers live (real-time signals are unused). */
    private static final int LAST_STANDARD_SIGNAL = 31;
    /** Room for one {@code struct sigaction}, treated as opaque bytes (152 on Linux, 16 on macOS). */
    private static final long SIGACTION_BYTES = 256;

    private static final MethodHandle SIGACTION = sigaction().orElse(null);

    private HostSignals() {
    }

    /** Whether handlers are saved and restored in this JVM (native access granted, {@code sigaction} found). */
    static boolean available() {
        return SIGACTION != null;
    }

    /** Runs {@code call} and then puts back every standard signal's handler as it was before the call. */
    static synchronized <T> T preserving(Supplier<T> call) {
        if (SIGACTION == null) {
            return call.get();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment saved = arena.allocate(SIGACTION_BYTES * (LAST_STANDARD_SIGNAL + 1));
            boolean[] known = new boolean[LAST_STANDARD_SIGNAL + 1];
            for (int signal = 1; signal <= LAST_STANDARD_SIGNAL; signal++) {
                known[signal] = sigaction(signal, MemorySegment.NULL, slot(saved, signal)) == 0;
            }
            try {
                return call.get();
            } finally {
                for (int signal = 1; signal <= LAST_STANDARD_SIGNAL; signal++) {
                    if (known[signal]) {
                        sigaction(signal, slot(saved, signal), MemorySegment.NULL);   // SIGKILL, SIGSTOP: refused
                    }
                }
            }
        }
    }

    /** The address of the handler installed for {@code signal} now (for tests), or 0 when it cannot be read. */
    static long handlerAddress(int signal) {
        if (SIGACTION == null) {
            return 0;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(SIGACTION_BYTES);
            // sa_handler / sa_sigaction is the first member of struct sigaction on Linux and macOS
            return sigaction(signal, MemorySegment.NULL, action) == 0 ? action.get(ValueLayout.JAVA_LONG, 0) : 0;
        }
    }

    private static MemorySegment slot(MemorySegment saved, int signal) {
        return saved.asSlice(SIGACTION_BYTES * signal, SIGACTION_BYTES);
    }

    private static int sigaction(int signal, MemorySegment action, MemorySegment previous) {
        try {
            return (int) SIGACTION.invokeExact(signal, action, previous);
        } catch (Throwable e) {
            throw new IllegalStateException("sigaction downcall failed", e);
        }
    }

    @SuppressWarnings("restricted")                      // downcallHandle: see the class comment
    private static Optional<MethodHandle> sigaction() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("sigaction").map(symbol -> linker.downcallHandle(symbol,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.ADDRESS)));
        } catch (RuntimeException | LinkageError e) {       // denied, no linker, or no sigaction: run unguarded
            return Optional.empty();
        }
    }
}
