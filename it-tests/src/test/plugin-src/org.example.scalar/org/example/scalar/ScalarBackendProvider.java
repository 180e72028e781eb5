package org.example.scalar;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BackendProvider;
import dev.kiln.api.plugin.Options;
import java.util.Set;

public final class ScalarBackendProvider implements BackendProvider {
    @Override
    public String id() {
        return "scalar";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public Backend create(Options options) {
        options.requireOnly("scalar", Set.of());
        return new ScalarBackend();
    }
}
