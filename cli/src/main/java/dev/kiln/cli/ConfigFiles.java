package dev.kiln.cli;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Experiment files, JSON ({@code .json}) or YAML ({@code .yaml}, {@code .yml}), flattened to the dotted keys of
 * {@link dev.kiln.trainer.ExperimentConfig}: {@code {"train": {"steps": 500}}} becomes {@code train.steps=500}, and a
 * section given as a plain value names the plugin ({@code model: gpt} is {@code model.id=gpt}).
 */
public final class ConfigFiles {
    private ConfigFiles() {
    }

    public static Map<String, String> read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new KilnException("cannot read config " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file);
    }

    /** Parses a config's text; the file's name says whether it is JSON or YAML. */
    public static Map<String, String> parse(String text, Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        Object parsed;
        if (name.endsWith(".json")) {
            parsed = Json.parse(text, file.toString());
        } else if (name.endsWith(".yaml") || name.endsWith(".yml")) {
            try {
                parsed = new Yaml(new SafeConstructor(new LoaderOptions())).load(text);
            } catch (YAMLException | IllegalArgumentException e) {
                // SnakeYAML lets a NumberFormatException out of a cut-short Unicode escape (found by fuzzing)
                throw new KilnException("config " + file + " is not valid YAML: "
                        + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        } else {
            throw new KilnException("config " + file + ": use a .json, .yaml or .yml file");
        }
        if (parsed == null) {
            return Map.of();
        }
        if (!(parsed instanceof Map<?, ?> root)) {
            throw new KilnException("config " + file + " must hold an object of sections (model, tokenizer, backend, "
                    + "data, train)");
        }
        Map<String, String> flat = new LinkedHashMap<>();
        flatten("", root, flat, file);
        return flat;
    }

    private static void flatten(String prefix, Map<?, ?> map, Map<String, String> flat, Path file) {
        for (Map.Entry<?, ?> e : map.entrySet()) {
            String key = prefix + e.getKey();
            Object value = e.getValue();
            if (value instanceof Map<?, ?> nested) {
                flatten(key + ".", nested, flat, file);                // train: {lora: {r: 8}} is train.lora.r
            } else if (value instanceof List<?> list && !prefix.isEmpty()
                    && list.stream().noneMatch(v -> v == null || v instanceof Map<?, ?> || v instanceof List<?>)) {
                flat.put(key, String.join(",", list.stream().map(ConfigFiles::plain).toList()));   // c_attn,c_fc
            } else if (value instanceof List<?> || value == null) {
                throw new KilnException("config " + file + ": " + key + " must be a plain value or a list of them, "
                        + "not " + (value == null ? "null" : "a list of lists or objects"));
            } else {
                flat.put(key, plain(value));
            }
        }
    }

    private static String plain(Object value) {
        if (value instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15) {
            return Long.toString(d.longValue());
        }
        return value.toString();
    }

    /** Parses {@code key=value} arguments. */
    static Map<String, String> overrides(List<String> arguments) {
        Map<String, String> map = new LinkedHashMap<>();
        for (String argument : arguments) {
            int eq = argument.indexOf('=');
            if (eq <= 0) {
                throw new KilnException("'" + argument + "' is not key=value (for example train.steps=500)");
            }
            map.put(argument.substring(0, eq).trim(), argument.substring(eq + 1));
        }
        return map;
    }
}
