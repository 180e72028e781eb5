package dev.kiln.api.nn;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A tree of layers holding parameters under dotted names ({@code transformer.h.0.attn.c_attn.weight}), as PyTorch's
 * {@code nn.Module}: children and parameters are registered in order, so names match the reference checkpoints.
 *
 * <p>Named {@code Module} after PyTorch; it shares the simple name of {@code java.lang.Module}, which is why Kiln
 * never uses wildcard imports.
 */
public abstract class Module {
    private final Map<String, Tensor> parameters = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a parameter (a leaf that requires grad) under a local name, and returns it. */
    protected final Tensor registerParameter(String name, Tensor parameter) {
        checkName(name);
        parameter.requiresGrad(true);
        parameters.put(name, parameter);
        return parameter;
    }

    /** Registers a child module under a local name, and returns it. */
    protected final <M extends Module> M registerModule(String name, M module) {
        checkName(name);
        children.put(name, module);
        return module;
    }

    private void checkName(String name) {
        if (name.isEmpty() || name.contains(".") || parameters.containsKey(name) || children.containsKey(name)) {
            throw new KilnException(getClass().getSimpleName() + ": invalid or repeated member name '" + name + "'");
        }
    }

    /**
     * Every parameter with its dotted name, depth-first in registration order. A tensor shared by two places (tied
     * weights) appears once, under the first name, as in PyTorch's {@code named_parameters()}.
     */
    public final Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, Collections.newSetFromMap(new IdentityHashMap<>()));
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, Set<Tensor> seen) {
        parameters.forEach((name, p) -> {
            if (seen.add(p)) {
                out.put(prefix + name, p);
            }
        });
        children.forEach((name, child) -> child.collect(prefix + name + ".", out, seen));
    }

    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** The total number of parameter elements. */
    public final long parameterCount() {
        return parameters().stream().mapToLong(Tensor::numel).sum();
    }

    public final void zeroGrad() {
        parameters().forEach(Tensor::zeroGrad);
    }

    /** Switches this module and all its children to training (dropout on) or evaluation mode. */
    public final Module train(boolean on) {
        training = on;
        children.values().forEach(child -> child.train(on));
        return this;
    }

    public final Module eval() {
        return train(false);
    }

    public final boolean isTraining() {
        return training;
    }

    /** Copies values into the parameters by name; every parameter must be present with its exact shape. */
    public final void loadStateDict(Map<String, float[]> values, Map<String, int[]> shapes) {
        Map<String, Tensor> own = namedParameters();
        Set<String> missing = new TreeSet<>(own.keySet());
        missing.removeAll(values.keySet());
        if (!missing.isEmpty()) {
            throw new KilnException("loadStateDict: missing parameters " + missing);
        }
        for (Map.Entry<String, Tensor> e : own.entrySet()) {
            int[] shape = shapes.get(e.getKey());
            if (shape == null || !Arrays.equals(shape, e.getValue().shape())) {
                throw new KilnException("loadStateDict: parameter " + e.getKey() + " has shape "
                        + Arrays.toString(e.getValue().shape()) + " in the model but "
                        + (shape == null ? "no shape" : Arrays.toString(shape)) + " in the state");
            }
            e.getValue().copyFrom(values.get(e.getKey()));
        }
    }
}
