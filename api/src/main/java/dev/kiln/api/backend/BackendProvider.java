package dev.kiln.api.backend;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;

/** A backend plugin: {@code provides dev.kiln.api.backend.BackendProvider with ...} in its module-info. */
public interface BackendProvider extends Provider {
    /** Creates a backend; native failures surface as a {@link dev.kiln.api.KilnException} naming the cause. */
    Backend create(Options config);
}
