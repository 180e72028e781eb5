/**
 * {@code kiln serve}: OpenAI's completions and chat completions over HTTP ({@code jdk.httpserver} on virtual
 * threads), one scheduler stepping every active sequence through the model's slot decoder.
 */
module dev.kiln.serve {
    requires transitive dev.kiln.trainer;
    requires jdk.httpserver;

    exports dev.kiln.serve;
}
