package dev.kiln.api.task;

/** The two parts of a corpus: the head trains, the tail ({@code data.val_fraction}) is held out. */
public enum Split {
    TRAIN, VALIDATION
}
