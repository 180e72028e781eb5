/**
 * Kiln's stable contracts and the small core every plugin shares: tensors with autograd, the Backend SPI, layers,
 * optimizers, safetensors I/O and the plugin registry. Depends on the JDK only.
 */
module dev.kiln.api {
    exports dev.kiln.api;
    exports dev.kiln.api.backend;
    exports dev.kiln.api.chat;
    exports dev.kiln.api.distributed;
    exports dev.kiln.api.ops;
    exports dev.kiln.api.tensor;
    exports dev.kiln.api.nn;
    exports dev.kiln.api.peft;
    exports dev.kiln.api.optim;
    exports dev.kiln.api.io;
    exports dev.kiln.api.plugin;
    exports dev.kiln.api.model;
    exports dev.kiln.api.tokenizer;
    exports dev.kiln.api.task;

    uses dev.kiln.api.backend.BackendProvider;
    uses dev.kiln.api.model.ModelProvider;
    uses dev.kiln.api.tokenizer.TokenizerProvider;
    uses dev.kiln.api.task.TaskProvider;
    uses dev.kiln.api.distributed.CommunicatorProvider;
}
