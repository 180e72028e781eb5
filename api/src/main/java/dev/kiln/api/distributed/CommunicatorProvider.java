package dev.kiln.api.distributed;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Provider;

/**
 * A communicator plugin ({@code provides dev.kiln.api.distributed.CommunicatorProvider with ...}). {@link #probe()}
 * says whether this process was started as a rank of a job (by {@code mpirun}, say) and can reach its library.
 */
public interface CommunicatorProvider extends Provider {
    /** Joins the job: once per process, before any collective. */
    Communicator create(Options options);
}
