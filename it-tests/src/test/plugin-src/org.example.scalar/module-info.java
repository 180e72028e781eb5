/**
 * A backend written outside Kiln with the primitives alone, as a stranger would start one: the integration tests
 * compile it, and the conformance kit runs over its jar exactly as the README's one command does.
 */
module org.example.scalar {
    requires dev.kiln.api;

    provides dev.kiln.api.backend.BackendProvider with org.example.scalar.ScalarBackendProvider;
}
