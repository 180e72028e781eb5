package dev.kiln.api.nn;

import dev.kiln.api.KilnException;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Which projections of a model get LoRA adapters, and how large: PEFT's {@code LoraConfig} fields. A target is a
 * module-name suffix ({@code c_attn} matches {@code transformer.h.0.attn.c_attn}, whose one projection it adapts,
 * with adapter parameters named {@code …c_attn.lora_A.weight}) or, for a projection a module holds as a bare
 * parameter ({@code in_proj_weight}, {@code weight_ih_l0}), a parameter-name suffix, with adapter parameters named
 * after it ({@code …self_attn.in_proj_weight.lora_A.weight}).
 *
 * @param rank          r, the inner dimension of B·A
 * @param alpha         lora_alpha; the update is scaled by alpha / r
 * @param dropout       lora_dropout, on the adapter's input only
 * @param targetModules the targets (module or parameter name suffixes)
 */
public record LoraConfig(int rank, double alpha, float dropout, List<String> targetModules) {
    public LoraConfig {
        if (rank < 1) {
            throw new KilnException("lora.r must be at least 1, got " + rank);
        }
        if (!(alpha > 0) || !Double.isFinite(alpha)) {
            throw new KilnException("lora.alpha must be positive, got " + alpha);
        }
        if (dropout < 0f || dropout >= 1f) {
            throw new KilnException("lora.dropout must be in [0, 1), got " + dropout);
        }
        if (targetModules.isEmpty()) {
            throw new KilnException("lora.target_modules is empty; name the projections to adapt (for gpt: "
                    + "c_attn,c_proj,c_fc)");
        }
        targetModules = List.copyOf(targetModules);
    }

    public double scaling() {
        return alpha / rank;
    }

    /** One adapted projection: the module's path, the parameter, and whether the target named the parameter. */
    public record Target(String modulePath, String parameter, boolean namedAfterParameter) {
        /** The adapter parameters' prefix in {@link Module#namedParameters()}: {@code …c_attn.} or {@code …w_ih.}. */
        public String prefix() {
            String base = modulePath.isEmpty() ? "" : modulePath + ".";
            return namedAfterParameter ? base + parameter + "." : base;
        }
    }

    /**
     * Freezes every parameter of {@code model} and attaches a fresh adapter (A Kaiming-uniform, B zero) to each
     * targeted projection. A target that matches nothing is an error that lists what can be targeted.
     */
    public List<Target> apply(Module model, Generator generator) {
        List<Target> targets = targets(model);
        model.parameters().forEach(p -> p.requiresGrad(false));
        Map<String, Module> modules = model.namedModules();
        for (Target target : targets) {
            Module owner = modules.get(target.modulePath());
            Tensor weight = owner.parameter(target.parameter());
            WeightLayout layout = owner.projections().get(target.parameter());
            owner.attachAdapter(target.parameter(), new LowRankAdapter(weight.backend(), layout.in(weight),
                    layout.out(weight), rank, alpha, dropout, generator), target.namedAfterParameter());
        }
        return targets;
    }

    /** The projections this config targets in {@code model}, in the model's order. */
    public List<Target> targets(Module model) {
        List<Target> out = new ArrayList<>();
        Map<String, Boolean> used = new LinkedHashMap<>();
        targetModules.forEach(t -> used.put(t, false));
        TreeSet<String> available = new TreeSet<>();
        for (Map.Entry<String, Module> entry : model.namedModules().entrySet()) {
            String path = entry.getKey();
            Module module = entry.getValue();
            Map<String, WeightLayout> projections = module.projections();
            if (projections.isEmpty()) {
                continue;
            }
            String last = path.substring(path.lastIndexOf('.') + 1);
            boolean single = projections.size() == 1;
            if (single && !path.isEmpty()) {
                available.add(last);
            }
            String moduleMatch = single ? matching(path) : null;
            if (moduleMatch != null) {
                used.put(moduleMatch, true);
                out.add(new Target(path, projections.keySet().iterator().next(), false));
                continue;
            }
            for (String parameter : projections.keySet()) {
                available.add(parameter);
                String match = matching(path.isEmpty() ? parameter : path + "." + parameter);
                if (match != null) {
                    used.put(match, true);
                    out.add(new Target(path, parameter, true));
                }
            }
        }
        List<String> unmatched = used.entrySet().stream().filter(e -> !e.getValue()).map(Map.Entry::getKey).toList();
        if (!unmatched.isEmpty()) {
            throw new KilnException("lora.target_modules: " + unmatched + " match" + (unmatched.size() == 1 ? "es" : "")
                    + " no projection of the model; it has " + String.join(", ", available));
        }
        return out;
    }

    /** The first target that {@code name} ends with (as a whole dotted component), or null. */
    private String matching(String name) {
        for (String target : targetModules) {
            if (name.equals(target) || name.endsWith("." + target)) {
                return target;
            }
        }
        return null;
    }
}
