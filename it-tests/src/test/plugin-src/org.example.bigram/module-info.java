/** A model plugin built outside Kiln's reactor: the integration tests compile it with javac and drop it in plugins/. */
module org.example.bigram {
    requires dev.kiln.api;

    provides dev.kiln.api.model.ModelProvider with org.example.bigram.BigramModelProvider;
}
