package dev.kiln.api.peft;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.AtomicFiles;
import dev.kiln.api.io.Json;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelKind;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.nn.Module;
import dev.kiln.api.nn.TrainableRows;
import dev.kiln.api.nn.WeightLayout;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A LoRA adapter in the files PEFT's {@code save_pretrained} writes: {@code adapter_config.json} and
 * {@code adapter_model.safetensors}, whose keys are the model's parameter names under {@code base_model.model.}
 * ({@code base_model.model.transformer.h.0.attn.c_attn.lora_A.weight}), A as (r, in) and B as (out, r) whatever the
 * base weight's layout. Rows added to the token embedding travel as PEFT's trainable tokens:
 * {@code …wte.token_adapter.trainable_tokens_delta} with their indices in {@code trainable_token_indices}.
 *
 * @param config       r, alpha, dropout and the targets
 * @param trainableTokens indices of the embedding rows the adapter carries (empty: none)
 * @param baseModel    {@code base_model_name_or_path}: where the base came from (may be empty)
 * @param tensors      adapter tensors under the model's own names (without {@code base_model.model.})
 * @param shapes       their shapes
 */
public record PeftAdapter(LoraConfig config, List<Integer> trainableTokens, String baseModel,
                          Map<String, float[]> tensors, Map<String, int[]> shapes) {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    /** PEFT's prefix for the wrapped model's parameters. */
    public static final String PREFIX = "base_model.model.";
    /** The parameter of the embedding's trainable tokens, relative to the embedding module. */
    public static final String TOKENS = "token_adapter.trainable_tokens_delta";

    /** The adapter currently attached to {@code model} (its LoRA parameters and trainable rows), with their values. */
    public static PeftAdapter of(LanguageModel model, LoraConfig config, String baseModel) {
        Map<String, float[]> tensors = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        model.namedAdapterParameters().forEach((name, p) -> {
            tensors.put(name, p.toFloatArray());
            shapes.put(name, p.shape());
        });
        return new PeftAdapter(config, trainableTokens(model), baseModel, tensors, shapes);
    }

    private static List<Integer> trainableTokens(Module model) {
        for (Module module : model.namedModules().values()) {
            if (module.adapter("weight").orElse(null) instanceof TrainableRows rows) {
                return rows.indices();
            }
        }
        return List.of();
    }

    /** Writes both files into {@code directory} (created if needed); each file is replaced only once complete. */
    public void save(Path directory, LanguageModel model) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("peft_type", "LORA");
        json.put("task_type", model.kind() == ModelKind.ENCODER_DECODER ? "SEQ_2_SEQ_LM" : "CAUSAL_LM");
        json.put("base_model_name_or_path", baseModel.isEmpty() ? null : baseModel);
        json.put("r", config.rank());
        json.put("lora_alpha", config.alpha() == Math.rint(config.alpha()) ? (Object) (long) config.alpha()
                : (Object) config.alpha());
        json.put("lora_dropout", (double) config.dropout());
        json.put("target_modules", new ArrayList<>(new TreeSet<>(config.targetModules())));
        json.put("fan_in_fan_out", inOutTargets(model, config));
        json.put("bias", "none");
        json.put("inference_mode", true);
        json.put("init_lora_weights", true);
        json.put("modules_to_save", null);
        json.put("trainable_token_indices", trainableTokens.isEmpty() ? null : trainableTokens);
        json.put("layers_to_transform", null);
        json.put("layers_pattern", null);
        json.put("rank_pattern", Map.of());
        json.put("alpha_pattern", Map.of());
        json.put("use_dora", false);
        json.put("use_rslora", false);
        json.put("lora_bias", false);
        json.put("revision", null);
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new KilnException("cannot create " + directory + ": " + e.getMessage(), e);
        }
        SafeTensors.Writer writer = SafeTensors.writer().metadata("format", "pt");
        tensors.forEach((name, values) -> writer.floats(PREFIX + name, values, shapes.get(name)));
        AtomicFiles.replace(directory.resolve(WEIGHTS), "adapter weights", writer::write);
        AtomicFiles.replace(directory.resolve(CONFIG), "adapter config", Json.write(json));
    }

    private static boolean inOutTargets(Module model, LoraConfig config) {
        Map<String, Module> modules = model.namedModules();
        return config.targets(model).stream().anyMatch(t ->
                modules.get(t.modulePath()).projections().get(t.parameter()) == WeightLayout.IN_OUT);
    }

    /** Reads an adapter directory, checking that it is a LoRA adapter Kiln computes exactly as PEFT does. */
    public static PeftAdapter read(Path directory) {
        Path configFile = directory.resolve(CONFIG);
        Path weightsFile = directory.resolve(WEIGHTS);
        if (!Files.isRegularFile(configFile) || !Files.isRegularFile(weightsFile)) {
            throw new KilnException(directory + " is not a PEFT adapter: it needs " + CONFIG + " and " + WEIGHTS);
        }
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(configFile, StandardCharsets.UTF_8), configFile.toString());
        } catch (IOException e) {
            throw new KilnException("cannot read " + configFile + ": " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> json)) {
            throw new KilnException(configFile + " is not a JSON object");
        }
        if (!"LORA".equals(json.get("peft_type"))) {
            throw new KilnException(configFile + ": peft_type is " + json.get("peft_type") + "; Kiln reads LORA adapters");
        }
        for (String flag : List.of("use_dora", "use_rslora", "lora_bias")) {
            if (Boolean.TRUE.equals(json.get(flag))) {
                throw new KilnException(configFile + ": " + flag + " is true; Kiln computes plain LoRA only");
            }
        }
        for (String pattern : List.of("rank_pattern", "alpha_pattern")) {
            if (json.get(pattern) instanceof Map<?, ?> map && !map.isEmpty()) {
                throw new KilnException(configFile + ": " + pattern + " is not supported (one r and alpha for all)");
            }
        }
        Object bias = json.get("bias");
        if (bias != null && !"none".equals(bias)) {
            throw new KilnException(configFile + ": bias is " + bias + "; Kiln reads adapters with bias \"none\"");
        }
        if (json.get("modules_to_save") instanceof List<?> saved && !saved.isEmpty()) {
            throw new KilnException(configFile + ": modules_to_save " + saved + " is not supported");
        }
        if (!(json.get("r") instanceof Number rank) || !(json.get("lora_alpha") instanceof Number alpha)) {
            throw new KilnException(configFile + " needs numbers r and lora_alpha");
        }
        double dropout = json.get("lora_dropout") instanceof Number d ? d.doubleValue() : 0.0;
        List<String> targets = new ArrayList<>();
        if (json.get("target_modules") instanceof List<?> list) {
            list.forEach(t -> targets.add(String.valueOf(t)));
        } else if (json.get("target_modules") instanceof String one) {
            throw new KilnException(configFile + ": target_modules is the regular expression '" + one
                    + "'; Kiln reads a list of module names");
        }
        List<Integer> tokens = new ArrayList<>();
        Object indices = json.get("trainable_token_indices");
        if (indices instanceof List<?> list) {
            list.forEach(i -> tokens.add(tokenIndex(i, configFile)));
        } else if (indices instanceof Map<?, ?> map) {
            for (Object value : map.values()) {
                if (!(value instanceof List<?> list)) {
                    throw new KilnException(configFile + ": trainable_token_indices maps a module to a list of token "
                            + "ids, not " + value);
                }
                list.forEach(i -> tokens.add(tokenIndex(i, configFile)));
            }
        } else if (indices != null) {
            throw new KilnException(configFile + ": trainable_token_indices must be a list of token ids, not " + indices);
        }
        String base = json.get("base_model_name_or_path") instanceof String s ? s : "";
        LoraConfig config = new LoraConfig(rank.intValue(), alpha.doubleValue(), (float) dropout, targets);

        SafeTensors weights = SafeTensors.read(weightsFile);
        Map<String, float[]> tensors = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (String key : weights.names()) {
            String name = key.startsWith(PREFIX) ? key.substring(PREFIX.length()) : key;
            name = name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
                    .replace(TOKENS + ".default", TOKENS);
            tensors.put(name, weights.floats(key));
            shapes.put(name, weights.shape(key));
        }
        return new PeftAdapter(config, List.copyOf(tokens), base, tensors, shapes);
    }

    private static int tokenIndex(Object value, Path file) {
        if (!(value instanceof Long id) || id < 0 || id >= 1 << 24) {
            throw new KilnException(file + ": trainable_token_indices holds " + value + ", not a token id");
        }
        return (int) (long) id;
    }

    /**
     * Attaches this adapter to {@code model} (freezing the base) and loads its values: LoRA on every target, and the
     * trainable token rows, growing the vocabulary first where the base is smaller than the indices need. Every
     * adapter tensor must match one the model expects, with its shape.
     */
    public void attach(LanguageModel model, Generator generator) {
        Map<String, String> tables = trainableTokens.isEmpty() ? Map.of() : growFor(model, trainableTokens);
        config.apply(model, generator);
        attachTokenRows(model, tables, trainableTokens.isEmpty() ? 0 : trainableTokens.getFirst());
        Map<String, Tensor> expected = model.namedAdapterParameters();
        Set<String> missing = new TreeSet<>(expected.keySet());
        missing.removeAll(tensors.keySet());
        Set<String> unexpected = new TreeSet<>(tensors.keySet());
        unexpected.removeAll(expected.keySet());
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            throw new KilnException("adapter does not fit the " + model.modelId() + " model: missing "
                    + prefixed(missing) + ", unexpected " + prefixed(unexpected));
        }
        expected.forEach((name, p) -> {
            if (!Arrays.equals(shapes.get(name), p.shape())) {
                throw new KilnException("adapter tensor " + PREFIX + name + " has shape "
                        + Arrays.toString(shapes.get(name)) + " but the model expects " + Arrays.toString(p.shape()));
            }
            p.copyFrom(tensors.get(name));
        });
    }

    /**
     * Grows the vocabulary so that token ids {@code indices} (one run of the last ids) exist, before any adapter is
     * attached; returns the tables that hold a row per token (see {@link LanguageModel#growVocabulary}).
     */
    public static Map<String, String> growFor(LanguageModel model, List<Integer> indices) {
        int first = indices.getFirst();
        for (int i = 0; i < indices.size(); i++) {
            if (indices.get(i) != first + i) {
                throw new KilnException("trainable_token_indices " + indices + " are not one run of consecutive ids");
            }
        }
        int needed = first + indices.size();
        Map<String, String> tables = model.growVocabulary(Math.max(needed, model.vocabSize()));
        if (model.vocabSize() != needed) {
            throw new KilnException("trainable_token_indices " + indices + " must be the last rows of the "
                    + model.vocabSize() + "-token vocabulary");
        }
        return tables;
    }

    /**
     * Makes the rows from {@code first} on of each table trainable (PEFT's trainable tokens), where the table has no
     * adapter already (a LoRA-adapted untied head keeps its new rows at their initial values, adapted by LoRA).
     */
    public static void attachTokenRows(LanguageModel model, Map<String, String> tables, int first) {
        Map<String, Module> modules = model.namedModules();
        tables.forEach((path, parameter) -> {
            Module owner = modules.get(path);
            if (owner.adapter(parameter).isEmpty()) {
                owner.attachAdapter(parameter, new TrainableRows(owner.parameter(parameter), first), false);
            }
        });
    }

    private static List<String> prefixed(Set<String> names) {
        return names.stream().map(n -> PREFIX + n).toList();
    }

    /** The adapter's tensors under PEFT's keys, sorted (for tests and tools). */
    public Map<String, int[]> keysAndShapes() {
        Map<String, int[]> out = new TreeMap<>();
        shapes.forEach((name, shape) -> out.put(PREFIX + name, shape));
        return out;
    }
}
