package dev.kiln.api.model;

/** What a model computes, so that a task can say which models it trains. */
public enum ModelKind {
    /** A next-token model over one sequence ({@code gpt}, {@code lstm}): {@link ModelInputs#INPUT_IDS} → logits. */
    DECODER("a decoder-only language model"),
    /** A source-to-target model ({@code seq2seq}): {@link EncoderDecoderModel}. */
    ENCODER_DECODER("an encoder-decoder model");

    private final String description;

    ModelKind(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }
}
