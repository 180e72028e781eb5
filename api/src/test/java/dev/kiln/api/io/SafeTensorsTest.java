package dev.kiln.api.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsEveryWrittenType() {
        Path file = dir.resolve("model.safetensors");
        float[] values = {1.5f, -2.25f, 0f, 3.0e-3f, 65504f, -1e-8f};
        SafeTensors.writer()
                .metadata("format", "pt")
                .floats("f32", values, new int[] {2, 3})
                .floats("f16", values, new int[] {6}, SafeTensors.Type.F16)
                .floats("bf16", values, new int[] {3, 2}, SafeTensors.Type.BF16)
                .ints("i32", new int[] {1, -2, 3}, new int[] {3}, SafeTensors.Type.I32)
                .ints("i64", new int[] {7, 8}, new int[] {1, 2}, SafeTensors.Type.I64)
                .floats("scalar", new float[] {4f}, new int[0])
                .write(file);
        SafeTensors read = SafeTensors.read(file);
        assertEquals("pt", read.metadata().get("format"));
        assertEquals(List.of("f32", "f16", "bf16", "i32", "i64", "scalar"), List.copyOf(read.names()));
        assertArrayEquals(values, read.floats("f32"));
        assertArrayEquals(new int[] {2, 3}, read.shape("f32"));
        float[] half = read.floats("f16");
        float[] brain = read.floats("bf16");
        for (int i = 0; i < values.length; i++) {
            assertEquals(values[i], half[i], Math.abs(values[i]) * 1e-3 + 1e-7, "f16 " + i);
            assertEquals(values[i], brain[i], Math.abs(values[i]) * 8e-3 + 1e-9, "bf16 " + i);
        }
        assertArrayEquals(new int[] {1, -2, 3}, read.ints("i32"));
        assertArrayEquals(new int[] {7, 8}, read.ints("i64"));
        assertArrayEquals(new int[0], read.shape("scalar"));
        assertEquals(0, headerLength(file) % 8, "the header is padded to a multiple of 8 bytes");
    }

    private static long headerLength(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            return ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void readsThePyTorchFixtures() throws IOException {
        Path fixtures = Path.of(System.getenv().getOrDefault("KILN_FIXTURES", "../../shared/fixtures"));
        try (var files = Files.list(fixtures)) {
            for (Path file : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
                SafeTensors f = SafeTensors.read(file);
                assertTrue(f.metadata().containsKey("vocab_size"), file + " metadata");
                assertEquals(1, f.floats("loss").length);
                int[] shape = f.shape("logits");
                assertEquals(Arrays.stream(shape).reduce(1, (a, b) -> a * b), f.floats("logits").length);
            }
        }
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, bytes);
        return file;
    }

    private static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    private void expectCorrupt(Path file, String fragment) {
        KilnException e = assertThrows(KilnException.class, () -> SafeTensors.read(file));
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "says why (" + fragment + "): " + e.getMessage());
    }

    @Test
    void tensorsThatShareBytesAreRejected() throws IOException {
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        expectCorrupt(write("overlap.safetensors", file(header, 12)), "overlap");
        String disjoint = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        assertEquals(3, SafeTensors.read(write("disjoint.safetensors", file(disjoint, 12))).names().size());
    }

    @Test
    void aTruncatedFileIsAnErrorNamingTheFile() throws IOException {
        expectCorrupt(write("short.safetensors", new byte[5]), "shorter than");
    }

    @Test
    void aHeaderClaimingMoreThanTheFileIsRejectedWithoutAllocatingIt() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(Long.MAX_VALUE / 2);
        expectCorrupt(write("huge.safetensors", b.array()), "header claims");
    }

    @Test
    void dataOffsetsBeyondTheFileAreRejected() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000000],\"data_offsets\":[0,4000000000]}}";
        expectCorrupt(write("lying.safetensors", file(header, 16)), "data section has 16 bytes");
    }

    @Test
    void offsetsThatDisagreeWithTheShapeAreRejected() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}";
        expectCorrupt(write("mismatch.safetensors", file(header, 16)), "needs 16 bytes");
    }

    @Test
    void invalidJsonIsRejected() throws IOException {
        expectCorrupt(write("json.safetensors", file("{\"w\": [", 0)), "invalid JSON");
    }

    @Test
    void anUnknownDtypeIsRejected() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        expectCorrupt(write("dtype.safetensors", file(header, 1)), "unknown dtype");
    }

    @Test
    void writingReplacesAtomicallyAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("w.safetensors");
        SafeTensors.writer().floats("a", new float[] {1}, new int[] {1}).write(file);
        SafeTensors.writer().floats("a", new float[] {2}, new int[] {1}).write(file);
        assertArrayEquals(new float[] {2}, SafeTensors.read(file).floats("a"));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }
}
