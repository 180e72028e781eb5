/** The LSTM language model (embedding → multi-layer LSTM → linear), PyTorch-identical. Provider id {@code lstm}. */
module dev.kiln.model.lstm {
    requires dev.kiln.api;

    exports dev.kiln.model.lstm;

    provides dev.kiln.api.model.ModelProvider with dev.kiln.model.lstm.LstmModelProvider;
}
