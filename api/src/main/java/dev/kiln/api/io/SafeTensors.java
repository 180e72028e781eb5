package dev.kiln.api.io;

import dev.kiln.api.KilnException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw little-endian data. Reading validates everything against the real file size before touching
 * data — a corrupt or lying header is an error naming the file, never a giant allocation. Writing goes to a temporary
 * file that is then renamed, so a crash never leaves half a file.
 */
public final class SafeTensors {
    /** Element types of the format. */
    public enum Type {
        F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

        final int size;

        Type(int size) {
            this.size = size;
        }
    }

    /** One tensor's header entry: offsets are relative to the start of the data section. */
    public record Entry(String name, Type type, int[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The largest header we accept; real ones are kilobytes. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path file;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;
    private final ByteBuffer data;

    private SafeTensors(Path file, Map<String, Entry> entries, Map<String, String> metadata, ByteBuffer data) {
        this.file = file;
        this.entries = entries;
        this.metadata = metadata;
        this.data = data;
    }

    /** Opens and validates a file; the data is memory-mapped, not copied. */
    public static SafeTensors read(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw corrupt(file, "file is " + size + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength <= 1 || headerLength > size - 8 || headerLength > MAX_HEADER_BYTES) {
                throw corrupt(file, "header claims " + headerLength + " bytes but the file has " + (size - 8)
                        + " after the length field");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            readFully(channel, headerBytes, 8);
            String headerText = StandardCharsets.UTF_8.newDecoder().decode(headerBytes.flip()).toString();
            long dataLength = size - 8 - headerLength;
            Object parsed = Json.parse(headerText, file + " header");
            if (!(parsed instanceof Map<?, ?> header)) {
                throw corrupt(file, "header is not a JSON object");
            }
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> metadata = Map.of();
            for (Map.Entry<?, ?> e : header.entrySet()) {
                String name = (String) e.getKey();
                if (name.equals("__metadata__")) {
                    metadata = parseMetadata(file, e.getValue());
                } else {
                    entries.put(name, parseEntry(file, name, e.getValue(), dataLength));
                }
            }
            requireDisjoint(file, entries.values());
            ByteBuffer data = channel.map(FileChannel.MapMode.READ_ONLY, 8 + headerLength, dataLength)
                    .order(ByteOrder.LITTLE_ENDIAN);
            return new SafeTensors(file, Collections.unmodifiableMap(entries), metadata, data);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw corrupt(file, "header is not valid UTF-8");
        } catch (IOException e) {
            throw new KilnException("cannot read safetensors file " + file + ": " + e.getMessage(), e);
        }
    }

    /** No two tensors may share bytes: a writer that aliased them, or a crafted header, would read one as the other. */
    private static void requireDisjoint(Path file, Collection<Entry> entries) {
        List<Entry> byStart = entries.stream().filter(e -> e.end() > e.begin())
                .sorted(Comparator.comparingLong(Entry::begin)).toList();
        for (int i = 1; i < byStart.size(); i++) {
            Entry previous = byStart.get(i - 1);
            Entry next = byStart.get(i);
            if (next.begin() < previous.end()) {
                throw corrupt(file, "tensors " + previous.name() + " [" + previous.begin() + ", " + previous.end()
                        + ") and " + next.name() + " [" + next.begin() + ", " + next.end() + ") overlap");
            }
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    private static KilnException corrupt(Path file, String why) {
        return new KilnException("corrupt safetensors file " + file + ": " + why);
    }

    private static Map<String, String> parseMetadata(Path file, Object value) {
        if (!(value instanceof Map<?, ?> map)) {
            throw corrupt(file, "__metadata__ is not an object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        map.forEach((k, v) -> {
            if (!(v instanceof String s)) {
                throw corrupt(file, "__metadata__ value of " + k + " is not a string");
            }
            out.put((String) k, s);
        });
        return Collections.unmodifiableMap(out);
    }

    private static Entry parseEntry(Path file, String name, Object value, long dataLength) {
        if (!(value instanceof Map<?, ?> fields)) {
            throw corrupt(file, "entry " + name + " is not an object");
        }
        Type type;
        try {
            type = Type.valueOf(String.valueOf(fields.get("dtype")));
        } catch (IllegalArgumentException e) {
            throw corrupt(file, "tensor " + name + " has unknown dtype " + fields.get("dtype"));
        }
        if (!(fields.get("shape") instanceof List<?> shapeList)) {
            throw corrupt(file, "tensor " + name + " has no shape");
        }
        int[] shape = new int[shapeList.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE) {
                throw corrupt(file, "tensor " + name + " has an invalid shape " + shapeList);
            }
            shape[i] = (int) (long) d;
            numel *= d;
            if (numel > Integer.MAX_VALUE) {
                throw corrupt(file, "tensor " + name + " of shape " + shapeList + " is too large");
            }
        }
        if (!(fields.get("data_offsets") instanceof List<?> offsets) || offsets.size() != 2
                || !(offsets.get(0) instanceof Long begin) || !(offsets.get(1) instanceof Long end)) {
            throw corrupt(file, "tensor " + name + " has no valid data_offsets");
        }
        if (begin < 0 || end < begin || end > dataLength) {
            throw corrupt(file, "tensor " + name + " claims bytes [" + begin + ", " + end + ") but the data section has "
                    + dataLength + " bytes");
        }
        if (end - begin != numel * type.size) {
            throw corrupt(file, "tensor " + name + " of shape " + Arrays.toString(shape) + " and dtype " + type
                    + " needs " + numel * type.size + " bytes, its offsets give " + (end - begin));
        }
        return new Entry(name, type, shape, begin, end);
    }

    public Path file() {
        return file;
    }

    public Set<String> names() {
        return entries.keySet();
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new KilnException(file + " has no tensor named " + name);
        }
        return e;
    }

    public int[] shape(String name) {
        return entry(name).shape().clone();
    }

    /** A tensor's values as float32, converted from F32, F16, BF16 or F64. */
    public float[] floats(String name) {
        Entry e = entry(name);
        int n = (int) e.numel();
        float[] out = new float[n];
        int base = (int) e.begin();
        switch (e.type()) {
            case F32 -> data.slice(base, n * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getShort(base + 2 * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((data.getShort(base + 2 * i) & 0xFFFF) << 16);
                }
            }
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getDouble(base + 8 * i);
                }
            }
            default -> throw new KilnException(file + ": tensor " + name + " is " + e.type() + ", not a float type");
        }
        return out;
    }

    /** A tensor's values as int32, from I32, I64 (range-checked), I16, I8 or U8. */
    public int[] ints(String name) {
        Entry e = entry(name);
        int n = (int) e.numel();
        int[] out = new int[n];
        int base = (int) e.begin();
        for (int i = 0; i < n; i++) {
            out[i] = switch (e.type()) {
                case I32 -> data.getInt(base + 4 * i);
                case I64 -> {
                    long v = data.getLong(base + 8 * i);
                    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                        throw new KilnException(file + ": tensor " + name + " holds " + v + ", outside int32");
                    }
                    yield (int) v;
                }
                case I16 -> data.getShort(base + 2 * i);
                case I8 -> data.get(base + i);
                case U8, BOOL -> data.get(base + i) & 0xFF;
                default -> throw new KilnException(file + ": tensor " + name + " is " + e.type() + ", not an integer type");
            };
        }
        return out;
    }

    public static Writer writer() {
        return new Writer();
    }

    /** Collects tensors and metadata, then writes them atomically. */
    public static final class Writer {
        private record Pending(Type type, int[] shape, byte[] bytes) {
        }

        private final Map<String, Pending> tensors = new LinkedHashMap<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        private Writer() {
        }

        public Writer metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        public Writer metadata(Map<String, String> values) {
            metadata.putAll(values);
            return this;
        }

        /** Adds float32 values; {@code type} may be F32, F16 or BF16 (rounded to nearest even). */
        public Writer floats(String name, float[] values, int[] shape, Type type) {
            checkCount(name, values.length, shape);
            ByteBuffer buffer = ByteBuffer.allocate(values.length * type.size).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) {
                switch (type) {
                    case F32 -> buffer.putFloat(v);
                    case F16 -> buffer.putShort(Float.floatToFloat16(v));
                    case BF16 -> buffer.putShort(toBfloat16(v));
                    case F64 -> buffer.putDouble(v);
                    default -> throw new KilnException("safetensors writer: " + type + " is not a float type");
                }
            }
            return put(name, type, shape, buffer.array());
        }

        public Writer floats(String name, float[] values, int[] shape) {
            return floats(name, values, shape, Type.F32);
        }

        /** Adds int32 values as I32 or I64. */
        public Writer ints(String name, int[] values, int[] shape, Type type) {
            checkCount(name, values.length, shape);
            ByteBuffer buffer = ByteBuffer.allocate(values.length * type.size).order(ByteOrder.LITTLE_ENDIAN);
            for (int v : values) {
                switch (type) {
                    case I32 -> buffer.putInt(v);
                    case I64 -> buffer.putLong(v);
                    default -> throw new KilnException("safetensors writer: " + type + " is not I32 or I64");
                }
            }
            return put(name, type, shape, buffer.array());
        }

        public Writer longs(String name, long[] values, int[] shape) {
            checkCount(name, values.length, shape);
            ByteBuffer buffer = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : values) {
                buffer.putLong(v);
            }
            return put(name, Type.I64, shape, buffer.array());
        }

        private Writer put(String name, Type type, int[] shape, byte[] bytes) {
            if (name.equals("__metadata__") || tensors.containsKey(name)) {
                throw new KilnException("safetensors writer: invalid or repeated tensor name " + name);
            }
            tensors.put(name, new Pending(type, shape.clone(), bytes));
            return this;
        }

        private static void checkCount(String name, int count, int[] shape) {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            if (n != count) {
                throw new KilnException("safetensors writer: tensor " + name + " has " + count
                        + " values for shape " + Arrays.toString(shape));
            }
        }

        private static short toBfloat16(float v) {
            int bits = Float.floatToRawIntBits(v);
            if (Float.isNaN(v)) {
                return (short) ((bits >>> 16) | 0x40);
            }
            int rounding = 0x7FFF + ((bits >>> 16) & 1);
            return (short) ((bits + rounding) >>> 16);
        }

        /** Writes to a temporary file beside {@code file}, then renames it into place. */
        public void write(Path file) {
            Map<String, Object> header = new LinkedHashMap<>();
            if (!metadata.isEmpty()) {
                header.put("__metadata__", metadata);
            }
            long offset = 0;
            for (Map.Entry<String, Pending> e : tensors.entrySet()) {
                Pending p = e.getValue();
                Map<String, Object> fields = new LinkedHashMap<>();
                fields.put("dtype", p.type().name());
                fields.put("shape", Arrays.stream(p.shape()).boxed().toList());
                fields.put("data_offsets", List.of(offset, offset + p.bytes().length));
                header.put(e.getKey(), fields);
                offset += p.bytes().length;
            }
            byte[] headerBytes = Json.write(header).getBytes(StandardCharsets.UTF_8);
            int padded = (headerBytes.length + 7) / 8 * 8;
            AtomicFiles.replace(file, "safetensors file", temporary -> {
                try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
                    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
                    head.putLong(padded).put(headerBytes);
                    while (head.hasRemaining()) {
                        head.put((byte) ' ');
                    }
                    writeFully(out, head.flip());
                    for (Pending p : tensors.values()) {
                        writeFully(out, ByteBuffer.wrap(p.bytes()));
                    }
                    out.force(true);
                }
            });
        }

        private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
        }
    }
}
