package dev.kiln.trainer;

import dev.kiln.api.ConfigException;
import dev.kiln.api.KilnException;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.plugin.Spelling;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * One experiment, as flat dotted keys in six sections: {@code model.*}, {@code tokenizer.*}, {@code backend.*},
 * {@code task.*} (each an {@code id} plus the plugin's own options, which the plugin checks), {@code data.*} and
 * {@code train.*} (checked
 * here). A config file's nested sections flatten to these keys, and {@code key=value} arguments override them; a
 * {@code train} or {@code data} key may be written without its section. A misspelt key is an error that names it and
 * the nearest known key. What a run used is saved beside it, so the run can be repeated or resumed.
 */
public final class ExperimentConfig {
    public static final List<String> SECTIONS = List.of("model", "tokenizer", "backend", "task", "data", "train");

    /** The trainer's own keys with their defaults (nanoGPT's names where nanoGPT has one). */
    private static final Map<String, String> TRAIN_DEFAULTS = defaults(
            "steps", "2000",            // optimizer steps (max_iters)
            "batch_size", "16",         // windows per micro-batch
            "context", "64",            // tokens per window (block_size)
            "grad_accum", "1",          // micro-batches per optimizer step
            "lr", "1e-3",               // peak learning rate
            "min_lr", "1e-4",           // learning rate at the end of the cosine
            "warmup", "100",            // linear warmup steps
            "schedule", "cosine",       // cosine | constant
            "optimizer", "adamw",       // adamw | adam | sgd
            "weight_decay", "0.1",      // decay on matrices (AdamW's decoupled, Adam's and SGD's L2); none on 1-D tensors
            "beta1", "",                // adam and adamw; empty: 0.9
            "beta2", "",                // adam and adamw; empty: 0.99 for adamw, 0.999 (PyTorch's) for adam
            "momentum", "",             // sgd; empty: 0
            "grad_clip", "1.0",         // global-norm clipping; 0 turns it off
            "eval_every", "250",        // steps between evaluations (each also writes a checkpoint)
            "eval_tokens", "65536",     // validation tokens per evaluation; 0: the whole split
            "keep", "3",                // checkpoints kept besides the best
            "seed", "1337",
            "time_budget", "0",         // seconds of training before a clean stop; 0: none
            "patience", "0",            // evaluations without improvement before stopping early; 0: never
            "max_bad_steps", "5",       // non-finite steps in a row before the run stops
            "log_every", "10",          // steps between metrics lines
            "sample_tokens", "200",     // tokens sampled at the end of the run
            "sample_prompt", "\n",
            "init_from", "",            // a checkpoint whose weights and tokenizer start a fine-tuning run
            "init_config", "",          // a config that trains init_from first when it does not exist yet (kiln train)
            "lora.r", "0",              // LoRA rank; 0: full fine-tuning (every weight trains)
            "lora.alpha", "16",         // LoRA's lora_alpha: the update is scaled by alpha / r
            "lora.dropout", "0",        // dropout on the adapters' inputs
            "lora.target_modules", ""); // module (or parameter) name suffixes, e.g. c_attn,c_proj,c_fc for gpt

    private static final Map<String, String> DATA_DEFAULTS = defaults(
            "path", "",                 // a text file or a directory of them; empty: the corpus the caller supplies
            "val_fraction", "0.1",      // the tail of the corpus held out for validation
            "cache", "");               // where token streams and trained tokenizers are kept; default: $XDG_CACHE_HOME/kiln or ~/.cache/kiln

    /**
     * What {@code --resume} may change: keys that steer the run from its checkpoint on without contradicting what it
     * already did (its length, schedule, evaluation and checkpoint cadence, budgets). Every other train and data key
     * is fixed by the run, as are the model, tokenizer and task sections and the backend's id.
     */
    private static final Set<String> APPLIES_ON_RESUME = Set.of("train.steps", "train.lr", "train.min_lr",
            "train.warmup", "train.schedule", "train.grad_clip", "train.eval_every", "train.eval_tokens", "train.keep",
            "train.time_budget", "train.patience", "train.max_bad_steps", "train.log_every", "train.sample_tokens",
            "train.sample_prompt", "data.cache");

    /** Fixed on resume: changing them would make the checkpoint's weights, optimizer state or data cursor a lie. */
    private static final Set<String> FIXED_ON_RESUME = Set.of("train.batch_size", "train.context", "train.grad_accum",
            "train.optimizer", "train.weight_decay", "train.beta1", "train.beta2", "train.momentum", "train.seed",
            "train.init_from", "train.init_config", "train.lora.r", "train.lora.alpha", "train.lora.dropout",
            "train.lora.target_modules", "data.path", "data.val_fraction");

    /** Whether {@code --resume} applies a change to this key or refuses it. */
    public enum OnResume { APPLIES, FIXED }

    private static final Map<String, String> ID_DEFAULTS = Map.of("model.id", "gpt", "tokenizer.id", "bpe",
            "backend.id", "cpu", "task.id", "lm");

    private final Map<String, String> values;

    private ExperimentConfig(Map<String, String> values) {
        this.values = Collections.unmodifiableMap(new TreeMap<>(values));
    }

    /** The trainer's defaults and the default plugin ids, with no plugin options. */
    public static ExperimentConfig defaults() {
        Map<String, String> all = new TreeMap<>(ID_DEFAULTS);
        TRAIN_DEFAULTS.forEach((k, v) -> all.put("train." + k, v));
        DATA_DEFAULTS.forEach((k, v) -> all.put("data." + k, v));
        return new ExperimentConfig(all);
    }

    /**
     * These keys laid over this config. Changing {@code model.id} drops the other model's options (they would not fit
     * the new model); the same holds for tokenizer and backend.
     */
    public ExperimentConfig with(Map<String, String> overrides) {
        Map<String, String> merged = new TreeMap<>(values);
        Map<String, String> canonical = new LinkedHashMap<>();
        overrides.forEach((key, value) -> canonical.put(canonicalKey(key), value));
        for (String section : List.of("model", "tokenizer", "backend", "task")) {
            String newId = canonical.get(section + ".id");
            if (newId != null && !newId.equals(merged.get(section + ".id"))) {
                merged.keySet().removeIf(k -> k.startsWith(section + ".") && !k.equals(section + ".path"));
            }
        }
        merged.putAll(canonical);
        return new ExperimentConfig(merged);
    }

    /**
     * How a resumed run treats a change to {@code key}: the train and data keys are each in one of two lists; the
     * backend's options (not its id) apply; the model, tokenizer and task sections are fixed. A train or data key in
     * neither list is a mistake in this class, reported as such.
     */
    public static OnResume onResume(String key) {
        String k = canonicalKey(key);
        if (APPLIES_ON_RESUME.contains(k)) {
            return OnResume.APPLIES;
        }
        if (FIXED_ON_RESUME.contains(k)) {
            return OnResume.FIXED;
        }
        if (k.startsWith("train.") || k.startsWith("data.")) {
            throw new IllegalStateException(k + " is in neither ExperimentConfig.APPLIES_ON_RESUME nor FIXED_ON_RESUME");
        }
        return k.startsWith("backend.") && !k.equals("backend.id") ? OnResume.APPLIES : OnResume.FIXED;
    }

    /**
     * This saved config with the overrides a resumed run was given. Keys that can change on resume are applied and
     * each change is reported to {@code log}; a change to a fixed key is refused, all of them named in one error,
     * so the run's saved config never records what it did not do. An override equal to the saved value is no change.
     * {@code alsoApplies}: fixed keys this resume may change all the same (the per-rank batch of a data-parallel run
     * resumed on another number of ranks, when the global batch stays).
     */
    public ExperimentConfig resumedWith(Map<String, String> overrides, Set<String> alsoApplies, Consumer<String> log) {
        Map<String, String> applied = new LinkedHashMap<>();
        List<String> changes = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        overrides.forEach((key, value) -> {
            String k = canonicalKey(key);
            String saved = values.getOrDefault(k, "");
            if (saved.equals(value)) {
                return;
            }
            if (onResume(k) == OnResume.APPLIES || alsoApplies.contains(k)) {
                applied.put(k, value);
                changes.add(k + " " + (saved.isEmpty() ? "(unset)" : saved) + " → " + value);
            } else {
                refused.add(k + " (the run has " + (saved.isEmpty() ? "it unset" : saved) + ", asked " + value + ")");
            }
        });
        if (!refused.isEmpty()) {
            throw new ConfigException("--resume cannot change " + String.join(", ", refused) + ": a run keeps the "
                    + "model, tokenizer, task, data, batch, context, optimizer, seed and backend it started with. "
                    + "Start a new run (--out), or fine-tune from this one with train.init_from=<its checkpoint>");
        }
        if (!changes.isEmpty()) {
            log.accept("resume: applying " + String.join(", ", changes));
        }
        return with(applied);
    }

    /** Reads back what {@link #asMap()} gave, checking every key. */
    public static ExperimentConfig of(Map<String, String> values) {
        return defaults().with(values);
    }

    private static String canonicalKey(String key) {
        String k = key.trim();
        int dot = k.indexOf('.');
        if (dot < 0) {
            if (TRAIN_DEFAULTS.containsKey(k)) {
                return "train." + k;
            }
            if (DATA_DEFAULTS.containsKey(k)) {
                return "data." + k;
            }
            if (SECTIONS.contains(k)) {
                return k + (k.equals("data") ? ".path" : ".id");
            }
            throw unknownShortKey(k);
        }
        String section = k.substring(0, dot);
        String name = k.substring(dot + 1);
        if (!SECTIONS.contains(section)) {
            throw unknown(k, allKeys());
        }
        if (name.isEmpty()) {
            throw new ConfigException("config key '" + k + "' has no name after the section");
        }
        Map<String, String> known = section.equals("train") ? TRAIN_DEFAULTS
                : section.equals("data") ? DATA_DEFAULTS : null;
        if (known != null && !known.containsKey(name)) {
            throw unknown(k, known.keySet().stream().map(n -> section + "." + n).toList());
        }
        return k;
    }

    private static List<String> allKeys() {
        List<String> keys = new ArrayList<>();
        TRAIN_DEFAULTS.keySet().forEach(k -> keys.add("train." + k));
        DATA_DEFAULTS.keySet().forEach(k -> keys.add("data." + k));
        keys.addAll(List.of("model.id", "tokenizer.id", "tokenizer.path", "backend.id", "task.id"));
        return keys;
    }

    /** A key without a section is matched against the names it may drop its section from (train and data keys). */
    private static ConfigException unknownShortKey(String key) {
        Map<String, String> qualified = new TreeMap<>();
        TRAIN_DEFAULTS.keySet().forEach(k -> qualified.put(k, "train." + k));
        DATA_DEFAULTS.keySet().forEach(k -> qualified.putIfAbsent(k, "data." + k));
        Optional<String> nearest = Spelling.nearest(key, qualified.keySet());
        if (nearest.isPresent()) {
            return new ConfigException("unknown config key '" + key + "'; did you mean " + nearest.get() + " ("
                    + qualified.get(nearest.get()) + ")?");
        }
        return unknown(key, allKeys());
    }

    private static ConfigException unknown(String key, List<String> known) {
        String hint = Spelling.nearest(key, known).map(n -> "; did you mean " + n + "?").orElse("");
        return new ConfigException("unknown config key '" + key + "'" + hint + " (sections: " + String.join(", ", SECTIONS)
                + "; train and data keys: " + String.join(", ", known) + ")");
    }

    private static Map<String, String> defaults(String... keyValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put(keyValues[i], keyValues[i + 1]);
        }
        return Collections.unmodifiableMap(map);
    }

    /** Every key, sorted: what the run directory's config.json holds. */
    public Map<String, String> asMap() {
        return values;
    }

    public String get(String key) {
        String value = values.get(key);
        if (value == null) {
            throw new KilnException("config has no " + key);
        }
        return value;
    }

    /** The plugin id of a section: model, tokenizer, backend or task. */
    public String id(String section) {
        return get(section + ".id");
    }

    /** A plugin section's options without its id (and, for the tokenizer, without its path): what the plugin checks. */
    public Options pluginOptions(String section) {
        Map<String, String> options = new LinkedHashMap<>();
        values.forEach((key, value) -> {
            if (key.startsWith(section + ".") && !key.equals(section + ".id")
                    && !(section.equals("tokenizer") && key.equals("tokenizer.path"))) {
                options.put(key.substring(section.length() + 1), value);
            }
        });
        return new Options(options);
    }

    /** The train section, parsed and checked. */
    public TrainSettings train() {
        return TrainSettings.from(section("train"));
    }

    /** The data section, parsed and checked. */
    public DataSettings data() {
        return DataSettings.from(section("data"));
    }

    private Options section(String name) {
        Map<String, String> options = new LinkedHashMap<>();
        values.forEach((key, value) -> {
            if (key.startsWith(name + ".")) {
                options.put(key.substring(name.length() + 1), value);
            }
        });
        return new Options(options);
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
