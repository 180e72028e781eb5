package dev.kiln.api.task;

/** A read-only run of token ids, memory-mapped from the trainer's cache: a split of the corpus, tokenized once. */
public interface TokenSequence {
    int length();

    int get(int index);

    /** Copies {@code count} ids from {@code start} into {@code destination[offset …]}. */
    void get(int start, int[] destination, int offset, int count);
}
