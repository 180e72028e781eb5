package dev.kiln.api.backend;

/** Reductions along one axis. Mean is SUM scaled in the api. */
public enum ReduceOp {
    SUM, MAX
}
