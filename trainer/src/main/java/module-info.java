/**
 * The training runner: corpus → tokenizer → cached token stream → mini-batches → any model on any backend, with
 * evaluation, checkpoints and metrics. It sees plugins only through the api's SPIs and a registry.
 */
module dev.kiln.trainer {
    requires transitive dev.kiln.api;

    exports dev.kiln.trainer;
    exports dev.kiln.trainer.checkpoint;
    exports dev.kiln.trainer.data;
    exports dev.kiln.trainer.eval;
    exports dev.kiln.trainer.metrics;

    uses dev.kiln.api.task.TaskProvider;

    provides dev.kiln.api.task.TaskProvider with dev.kiln.trainer.task.LanguageModelingTaskProvider,
            dev.kiln.trainer.task.Seq2SeqTaskProvider, dev.kiln.trainer.task.InstructionTuningTaskProvider;
}
