package dev.kiln.api.plugin;

/**
 * The shape every plugin kind shares (backends, models, tokenizers): a stable id, a priority for "best available", a
 * cheap {@link #probe()} and a {@code create} (on the kind's own interface) that does the heavy work.
 */
public interface Provider {
    /** The name users type ({@code cpu}, {@code gpt}, {@code bpe}); unique within a kind. */
    String id();

    /** Higher wins when the user names no id. */
    int priority();

    /**
     * Whether this provider can work here, and why not; cheap, and never throws. Pure-Java plugins with nothing to
     * detect are always available; a provider that needs a device, a native library or a CPU feature overrides this.
     */
    default Availability probe() {
        return Availability.yes();
    }
}
