package dev.kiln.distributed.mpi;

import dev.kiln.api.KilnException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The few MPI calls Kiln makes, bound to Open MPI's {@code libmpi.so.40} with the foreign linker. Open MPI's handles
 * are the addresses of exported objects ({@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world}, {@code MPI_FLOAT}
 * {@code &ompi_mpi_float}, {@code MPI_SUM} {@code &ompi_mpi_op_sum}); {@code MPI_IN_PLACE} is {@code (void *) 1}.
 * Every call returns MPI's error code; under the default error handler a failure has already aborted the job.
 */
final class Mpi {
    static final String LIBRARY_NAME = "libmpi.so.40";
    static final Optional<SymbolLookup> LIBRARY = load();
    static final int THREAD_SERIALIZED = 2;
    static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);

    private static final Linker LINKER = Linker.nativeLinker();
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout ADDRESS = ValueLayout.ADDRESS;

    /**
     * The handles, bound when first used (after {@link #requireLibrary}): static and final, so the JIT inlines each
     * downcall as a constant.
     */
    static final class Bound {
        private Bound() {
        }

        static final MemorySegment COMM_WORLD = symbol("ompi_mpi_comm_world");
        static final MemorySegment FLOAT = symbol("ompi_mpi_float");
        static final MemorySegment DOUBLE = symbol("ompi_mpi_double");
        static final MemorySegment BYTE = symbol("ompi_mpi_byte");
        static final MemorySegment SUM = symbol("ompi_mpi_op_sum");
        static final MethodHandle INIT_THREAD = function("MPI_Init_thread", INT, ADDRESS, ADDRESS, INT, ADDRESS);
        static final MethodHandle COMM_RANK = function("MPI_Comm_rank", INT, ADDRESS, ADDRESS);
        static final MethodHandle COMM_SIZE = function("MPI_Comm_size", INT, ADDRESS, ADDRESS);
        /**
         * The collectives on Java arrays in place: critical downcalls may take heap memory, so a gradient bucket goes
         * to MPI without a copy (the collector waits while the call runs).
         */
        static final MethodHandle ALLREDUCE = critical("MPI_Allreduce", INT, ADDRESS, ADDRESS, INT, ADDRESS,
                ADDRESS, ADDRESS);
        static final MethodHandle BCAST = critical("MPI_Bcast", INT, ADDRESS, INT, ADDRESS, INT, ADDRESS);
        static final MethodHandle BARRIER = function("MPI_Barrier", INT, ADDRESS);
        static final MethodHandle ABORT = function("MPI_Abort", INT, ADDRESS, INT);
        static final MethodHandle FINALIZE = function("MPI_Finalize", INT);
        static final MethodHandle SETENV = LINKER.downcallHandle(
                LINKER.defaultLookup().find("setenv").orElseThrow(), FunctionDescriptor.of(INT, ADDRESS, ADDRESS, INT));
    }

    private Mpi() {
    }

    static void requireLibrary() {
        if (LIBRARY.isEmpty()) {
            throw new KilnException("mpi: " + LIBRARY_NAME + " is not installed (apt-get install openmpi-bin)");
        }
    }

    private static Optional<SymbolLookup> load() {
        try {
            return Optional.of(SymbolLookup.libraryLookup(LIBRARY_NAME, Arena.global()));
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return Optional.empty();
        }
    }

    private static MemorySegment symbol(String name) {
        return LIBRARY.orElseThrow().find(name).orElseThrow(() -> new KilnException("mpi: " + LIBRARY_NAME
                + " exports no " + name + "; Kiln speaks to Open MPI 4 or later"));
    }

    @SuppressWarnings("restricted")                  // downcalls into libmpi: the module is granted native access
    private static MethodHandle function(String name, ValueLayout result, ValueLayout... arguments) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(result, arguments));
    }

    @SuppressWarnings("restricted")
    private static MethodHandle critical(String name, ValueLayout result, ValueLayout... arguments) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(result, arguments),
                Linker.Option.critical(true));
    }

    /** Throws when an MPI call reports an error (where the error handler returns instead of aborting). */
    static void check(String call, int code) {
        if (code != 0) {
            throw new KilnException("mpi: " + call + " failed with MPI error " + code);
        }
    }
}
