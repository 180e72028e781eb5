package dev.kiln.model.transformer;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.Json;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a Hugging Face GPT-2 snapshot directory ({@code config.json} + {@code model.safetensors}), as downloaded for
 * {@code gpt2}, {@code distilgpt2} or a fine-tune of them. Tensor names may carry the {@code transformer.} prefix
 * (GPT2LMHeadModel) or not (GPT2Model); the causal-mask buffers ({@code attn.bias}, {@code attn.masked_bias}) and a
 * tied {@code lm_head.weight} are skipped.
 */
public final class HuggingFaceGpt2 {
    private HuggingFaceGpt2() {
    }

    /** config.json keys that describe GPT-2's architecture and map to Kiln's options. */
    private static final Map<String, String> CONFIG_KEYS = Map.of(
            "vocab_size", "vocab_size", "n_positions", "n_positions", "n_layer", "n_layer", "n_head", "n_head",
            "n_embd", "n_embd", "layer_norm_epsilon", "layer_norm_epsilon", "activation_function", "activation_function");

    public static GptLanguageModel load(Backend backend, Path directory) {
        Path configFile = directory.resolve("config.json");
        Path weightsFile = directory.resolve("model.safetensors");
        GptConfig config = readConfig(configFile);
        GptLanguageModel model = new GptLanguageModel(backend, config, new Generator(0));
        SafeTensors weights = SafeTensors.read(weightsFile);
        Map<String, String> byKilnName = new LinkedHashMap<>();
        for (String name : weights.names()) {
            if (name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias") || name.equals("lm_head.weight")) {
                continue;
            }
            byKilnName.put(name.startsWith("transformer.") ? name : "transformer." + name, name);
        }
        Map<String, Tensor> parameters = model.namedParameters();
        Set<String> missing = new TreeSet<>(parameters.keySet());
        missing.removeAll(byKilnName.keySet());
        Set<String> unexpected = new TreeSet<>(byKilnName.keySet());
        unexpected.removeAll(parameters.keySet());
        if (!missing.isEmpty() || !unexpected.isEmpty()) {
            throw new KilnException(weightsFile + " does not match its config.json: missing " + missing
                    + ", unexpected " + unexpected);
        }
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        parameters.keySet().forEach(name -> {
            String stored = byKilnName.get(name);
            values.put(name, weights.floats(stored));
            shapes.put(name, weights.shape(stored));
        });
        model.loadStateDict(values, shapes);
        return model;
    }

    static GptConfig readConfig(Path configFile) {
        String text;
        try {
            text = Files.readString(configFile);
        } catch (IOException e) {
            throw new KilnException("cannot read " + configFile + ": " + e.getMessage(), e);
        }
        if (!(Json.parse(text, configFile.toString()) instanceof Map<?, ?> json)) {
            throw new KilnException(configFile + " is not a JSON object");
        }
        Object type = json.get("model_type");
        if (type != null && !"gpt2".equals(type)) {
            throw new KilnException(configFile + " describes a '" + type + "' model, not gpt2");
        }
        Map<String, String> options = new LinkedHashMap<>();
        CONFIG_KEYS.forEach((hf, kiln) -> {
            Object value = json.get(hf);
            if (value != null) {
                options.put(kiln, String.valueOf(value));
            }
        });
        return GptConfig.from(new Options(options));
    }

    /** Writes a model as a Hugging Face GPT-2 snapshot (GPT2LMHeadModel names), e.g. to share a fine-tune. */
    public static void save(GptLanguageModel model, Path directory) {
        GptConfig c = model.config();
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("model_type", "gpt2");
        json.put("architectures", java.util.List.of("GPT2LMHeadModel"));
        json.put("vocab_size", c.vocabSize());
        json.put("n_positions", c.contextLength());
        json.put("n_ctx", c.contextLength());
        json.put("n_embd", c.width());
        json.put("n_layer", c.layers());
        json.put("n_head", c.heads());
        json.put("layer_norm_epsilon", (double) c.layerNormEps());
        json.put("activation_function", c.activation());
        try {
            Files.createDirectories(directory);
            Files.writeString(directory.resolve("config.json"), Json.write(json));
        } catch (IOException e) {
            throw new KilnException("cannot write " + directory + ": " + e.getMessage(), e);
        }
        SafeTensors.Writer writer = SafeTensors.writer().metadata("format", "pt");
        model.namedParameters().forEach((name, p) -> writer.floats(name, p.toFloatArray(), p.shape()));
        writer.write(directory.resolve("model.safetensors"));
    }
}
