/** A GPT-2-compatible decoder-only transformer with Hugging Face parameter names. Provider id {@code gpt}. */
module dev.kiln.model.transformer {
    requires dev.kiln.api;

    exports dev.kiln.model.transformer;

    provides dev.kiln.api.model.ModelProvider with dev.kiln.model.transformer.GptModelProvider;
}
