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
import java.util.Optional;
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
    private final Map<String, WeightLayout> projections = new LinkedHashMap<>();
    private final Map<String, Attached> adapters = new LinkedHashMap<>();
    private boolean training = true;

    /** An adapter on one parameter; its parameters are named after the module, or after the parameter too. */
    private record Attached(WeightAdapter adapter, boolean namedAfterParameter) {
    }

    /** Registers a parameter (a leaf that requires grad) under a local name, and returns it. */
    protected final Tensor registerParameter(String name, Tensor parameter) {
        checkName(name);
        parameter.requiresGrad(true);
        parameters.put(name, parameter);
        return parameter;
    }

    /**
     * Registers a parameter that is a projection's weight matrix, stored as {@code layout} says. LoRA can target it,
     * and the module multiplies by it through {@link #project}.
     */
    protected final Tensor registerProjection(String name, Tensor weight, WeightLayout layout) {
        if (weight.dim() != 2) {
            throw new KilnException(getClass().getSimpleName() + ": projection " + name + " must be a matrix");
        }
        registerParameter(name, weight);
        projections.put(name, layout);
        return weight;
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
        collect("", out, Collections.newSetFromMap(new IdentityHashMap<>()), true);
        return out;
    }

    /** Only the parameters of attached adapters, named as in {@link #namedParameters()} (what an adapter file holds). */
    public final Map<String, Tensor> namedAdapterParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, Collections.newSetFromMap(new IdentityHashMap<>()), false);
        return out;
    }

    /** The parameters that require grad (all of them, unless adapters or freezing say otherwise). */
    public final Map<String, Tensor> namedTrainableParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        namedParameters().forEach((name, p) -> {
            if (p.requiresGrad()) {
                out.put(name, p);
            }
        });
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, Set<Tensor> seen, boolean base) {
        if (base) {
            parameters.forEach((name, p) -> {
                if (seen.add(p)) {
                    out.put(prefix + name, p);
                }
            });
        }
        adapters.forEach((name, attached) -> attached.adapter().parameters().forEach((local, p) -> {
            if (seen.add(p)) {
                out.put(prefix + (attached.namedAfterParameter() ? name + "." : "") + local, p);
            }
        }));
        children.forEach((name, child) -> child.collect(prefix + name + ".", out, seen, base));
    }

    /** This module ("") and every descendant under its dotted path, depth-first, as {@code named_modules()}. */
    public final Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        collectModules("", out);
        return out;
    }

    private void collectModules(String path, Map<String, Module> out) {
        out.put(path, this);
        children.forEach((name, child) -> child.collectModules(path.isEmpty() ? name : path + "." + name, out));
    }

    /** The projection weights registered by this module itself (local names), with their layouts. */
    public final Map<String, WeightLayout> projections() {
        return Collections.unmodifiableMap(projections);
    }

    /** This module's own parameter {@code name}, as registered (no adapter applied). */
    public final Tensor parameter(String name) {
        Tensor p = parameters.get(name);
        if (p == null) {
            throw new KilnException(getClass().getSimpleName() + " has no parameter '" + name + "'; it has "
                    + parameters.keySet());
        }
        return p;
    }

    /**
     * Replaces parameter {@code name} by a tensor of another shape (a vocabulary that grew); it keeps its name,
     * whether it requires grad, and its place in {@link #namedParameters}. Modules that read the parameter through
     * {@link #parameter}, {@link #weight} or {@link #project} see the new one.
     */
    public final void replaceParameter(String name, Tensor value) {
        Tensor old = parameter(name);
        if (adapters.containsKey(name)) {
            throw new KilnException(getClass().getSimpleName() + ": cannot replace " + name + " while an adapter is on it");
        }
        if (value.dim() != old.dim()) {
            throw new KilnException(getClass().getSimpleName() + ": " + name + " has " + old.dim() + " dimensions, not "
                    + value.dim());
        }
        value.requiresGrad(old.requiresGrad());
        parameters.put(name, value);
    }

    /**
     * Attaches {@code adapter} to this module's parameter {@code parameter}, which is frozen from then on (no
     * gradient). The adapter's parameters are named after this module ({@code c_attn.lora_A.weight}, PEFT's names
     * for an adapted module) or, with {@code namedAfterParameter}, after the parameter too
     * ({@code lstm.weight_ih_l0.lora_A.weight}, for a parameter a module uses directly).
     */
    public final void attachAdapter(String parameter, WeightAdapter adapter, boolean namedAfterParameter) {
        Tensor base = parameter(parameter);
        if (adapters.containsKey(parameter)) {
            throw new KilnException(getClass().getSimpleName() + ": " + parameter + " already has an adapter");
        }
        if (!namedAfterParameter && adapters.values().stream().anyMatch(a -> !a.namedAfterParameter())) {
            throw new KilnException(getClass().getSimpleName() + ": a second adapter named after the module would "
                    + "collide with the first; name it after its parameter");
        }
        base.requiresGrad(false);
        adapters.put(parameter, new Attached(adapter, namedAfterParameter));
    }

    /** The adapter on this module's parameter {@code name}, if one is attached. */
    public final Optional<WeightAdapter> adapter(String name) {
        return Optional.ofNullable(adapters.get(name)).map(Attached::adapter);
    }

    /** Folds every adapter in this tree into its parameter and detaches it (the parameters stay frozen). */
    public final void mergeAdapters() {
        adapters.forEach((name, attached) -> attached.adapter().mergeInto(parameters.get(name),
                projections.getOrDefault(name, WeightLayout.OUT_IN)));
        adapters.clear();
        children.values().forEach(Module::mergeAdapters);
    }

    /**
     * Parameter {@code name} as the module should compute with it: the parameter itself, or with its adapter's change
     * applied. For weights used inside fused kernels; a projection multiplies through {@link #project} instead.
     */
    protected final Tensor weight(String name) {
        Tensor base = parameter(name);
        Attached attached = adapters.get(name);
        if (attached == null) {
            return base;
        }
        if (attached.adapter().needsProjection()) {
            throw new KilnException(getClass().getSimpleName() + " uses " + name + " as a whole matrix (inside a fused "
                    + "kernel), where LoRA's dropout on the projection's input cannot apply; set lora.dropout=0 or "
                    + "target other projections");
        }
        return attached.adapter().adapt(base, projections.getOrDefault(name, WeightLayout.OUT_IN));
    }

    /** x (…, in) → (…, out): x multiplied by projection {@code name}, with its adapter if one is attached. */
    protected final Tensor project(Tensor x, String name) {
        Tensor base = parameter(name);
        WeightLayout layout = layout(name);
        return project(x, name, 0, layout.out(base));
    }

    /** x (…, in) → (…, to - from): the product with output features [from, to) of projection {@code name}. */
    protected final Tensor project(Tensor x, String name, int from, int to) {
        Tensor base = parameter(name);
        WeightLayout layout = layout(name);
        Attached attached = adapters.get(name);
        return attached == null ? layout.apply(x, base, from, to)
                : attached.adapter().project(x, base, layout, from, to, training);
    }

    private WeightLayout layout(String name) {
        WeightLayout layout = projections.get(name);
        if (layout == null) {
            throw new KilnException(getClass().getSimpleName() + ": " + name + " is not a registered projection");
        }
        return layout;
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
