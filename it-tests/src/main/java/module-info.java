/**
 * The backend conformance kit: one JUnit 5 suite, written against Tensor and Backend only, that any backend can run.
 * Kiln's own integration tests are patched into this module and run it over every discovered backend.
 */
module dev.kiln.conformance {
    requires transitive dev.kiln.api;
    requires transitive org.junit.jupiter.api;

    exports dev.kiln.conformance;
}
