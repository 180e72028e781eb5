package dev.kiln.api.optim;

import java.util.Map;

/** An optimizer's exported state: the step count and every state tensor by "parameter.slot". */
public record OptimizerState(int step, Map<String, float[]> tensors) {
}
