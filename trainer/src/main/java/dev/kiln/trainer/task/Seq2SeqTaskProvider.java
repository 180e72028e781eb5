package dev.kiln.trainer.task;

import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import dev.kiln.trainer.data.PairEncoding;
import java.util.List;

/**
 * Task id {@code seq2seq}: paired data for an encoder-decoder. Options: {@code source_field} and {@code target_field}
 * (JSONL keys; default source, target), {@code bos}, {@code eos}, {@code pad} (the special tokens; default
 * {@code <s>}, {@code </s>}, {@code <pad>}), {@code max_source_length} and {@code max_target_length} (default:
 * train.context), {@code eval_beam} (1: greedy), {@code length_penalty} (0.6), {@code eval_decode} (how many
 * validation sources each evaluation decodes; default 256, 0: all).
 */
public final class Seq2SeqTaskProvider implements TaskProvider {
    @Override
    public String id() {
        return Seq2SeqTask.ID;
    }

    @Override
    public int priority() {
        return 1;
    }

    @Override
    public Task create(TaskData data, Options options) {
        return new Seq2SeqTask(data, options);
    }

    /** PAD, BOS and EOS, added to a vocabulary that lacks them (a loaded tokenizer, a base's). */
    @Override
    public List<String> specialTokens(Options options) {
        return List.of(options.string("pad", PairEncoding.DEFAULT_PAD), options.string("bos", PairEncoding.DEFAULT_BOS),
                options.string("eos", PairEncoding.DEFAULT_EOS));
    }
}
