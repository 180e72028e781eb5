package dev.kiln.backend.cpu;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Where a float array's elements sit relative to the cache lines. Java aligns an array's elements to 8 bytes at best,
 * so a 64-byte row of a packed GEMM panel usually straddles two lines, and one of the kernel's two vector loads per k
 * splits across them (measured: +2.5 % on the whole product at n = 1024 and 2048 with the packed B aligned); the
 * same holds for the rows of C's tiles, whose columns the GEMM therefore numbers from C's first line (+1 % more).
 *
 * <p>Java has no API for an array's address, but a critical downcall may be handed a heap array in place:
 * {@code memmove(p, p, 0)} copies nothing and returns {@code p}. That needs native access for this module
 * ({@code --enable-native-access=dev.kiln.backend.cpu}, which Kiln's launcher, tests and benchmarks pass); without
 * it, or without a C library, every answer is 0 and nothing is aligned, which costs speed, never correctness. The
 * address is a snapshot: the garbage collector may move the array afterwards, so callers ask again for each large
 * block and only ever use the answer as an offset into that same array.
 */
final class ArrayAlignment {
    /** Bytes per cache line on the x86 and ARM cores Kiln targets. */
    static final int LINE_BYTES = 64;
    /** Floats per cache line: an array needs this many spare elements to start a block on a line. */
    static final int LINE_FLOATS = LINE_BYTES / Float.BYTES;

    private static final MethodHandle MEMMOVE = memmove().orElse(null);

    private ArrayAlignment() {
    }

    /** Whether {@link #firstLineIndex} knows addresses in this JVM (native access granted, C library found). */
    static boolean available() {
        return MEMMOVE != null;
    }

    /**
     * The first index in {@code 0 .. LINE_FLOATS - 1} whose element starts a cache line, or 0 when the address is not
     * known. Costs one downcall.
     */
    static int firstLineIndex(float[] array) {
        if (MEMMOVE == null || array.length == 0) {
            return 0;
        }
        return firstLineIndex(address(array));
    }

    /** The same for an array whose element 0 is at {@code address} (a multiple of 4). */
    static int firstLineIndex(long address) {
        return (int) ((LINE_BYTES - Math.floorMod(address, LINE_BYTES)) % LINE_BYTES / Float.BYTES);
    }

    /** The address of element 0 of {@code array} at the time of the call; requires {@link #available()}. */
    static long address(float[] array) {
        MemorySegment elements = MemorySegment.ofArray(array);
        try {
            return ((MemorySegment) MEMMOVE.invokeExact(elements, elements, 0L)).address();
        } catch (Throwable e) {
            throw new IllegalStateException("memmove downcall failed", e);
        }
    }

    @SuppressWarnings("restricted")                      // downcallHandle: guarded by the module's native access
    private static Optional<MethodHandle> memmove() {
        if (!ArrayAlignment.class.getModule().isNativeAccessEnabled()) {
            return Optional.empty();                       // asking would print the JDK's restricted-method warning
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("memmove").map(symbol -> linker.downcallHandle(symbol,
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                            ValueLayout.JAVA_LONG),
                    Linker.Option.critical(true)));
        } catch (RuntimeException | LinkageError e) {       // no linker on this platform: align nothing
            return Optional.empty();
        }
    }
}
