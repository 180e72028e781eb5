package dev.kiln.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kiln.api.KilnException;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.io.SafeTensors.Type;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;

/** A {@code model.safetensors} from anywhere: parsed and every tensor read, or one {@link KilnException}. */
class SafeTensorsFuzzTest {
    private static final Set<Type> FLOATS = EnumSet.of(Type.F64, Type.F32, Type.F16, Type.BF16);

    @FuzzTest(maxDuration = "20s")
    void anyFileIsReadOrRefusedWithAKilnException(byte[] bytes) {
        Path file = FuzzFiles.write("model.safetensors", bytes);
        try {
            SafeTensors tensors = SafeTensors.read(file);
            tensors.metadata();
            for (String name : tensors.names()) {
                if (FLOATS.contains(tensors.entry(name).type())) {
                    tensors.floats(name);
                } else {
                    tensors.ints(name);
                }
            }
        } catch (KilnException refused) {
            // the one acceptable failure: a clear error naming what is wrong
        }
    }
}
