package dev.kiln.trainer.checkpoint;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.chat.ChatTemplate;
import dev.kiln.api.io.Json;
import dev.kiln.api.io.SafeTensors;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.model.ModelProvider;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.optim.OptimizerState;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A checkpoint directory, the Hugging Face way: {@code config.json} (model id, hyperparameters, tokenizer id, step and
 * the experiment config), {@code model.safetensors} (the weights under the model's own parameter names),
 * {@code tokenizer.json} and, for a run that can go on, {@code training_state.safetensors} (optimizer moments as
 * tensors; step, generator, data cursor and the rest as metadata). It is written to a temporary sibling directory and
 * renamed into place, so a crash never leaves half a checkpoint.
 */
public final class Checkpoint {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String STATE = "training_state.safetensors";
    /** Hugging Face's tokenizer settings; Kiln writes the chat template there. */
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";

    /**
     * What makes a checkpoint a LoRA checkpoint: the adapter's config and the base it adapts (the base's directory
     * and the SHA-256 of its weights file), whose weights it does not copy.
     */
    public record Adapter(LoraConfig config, Path base, String baseDigest) {
    }
    private static final int FORMAT = 1;

    private final Path directory;
    private final String modelId;
    private final Options hyperparameters;
    private final String tokenizerId;
    private final int step;
    private final Map<String, String> experiment;
    private final Path base;
    private final String baseDigest;
    private final boolean snapshot;

    private Checkpoint(Path directory, String modelId, Options hyperparameters, String tokenizerId, int step,
                       Map<String, String> experiment, Path base, String baseDigest, boolean snapshot) {
        this.snapshot = snapshot;
        this.base = base;
        this.baseDigest = baseDigest;
        this.directory = directory;
        this.modelId = modelId;
        this.hyperparameters = hyperparameters;
        this.tokenizerId = tokenizerId;
        this.step = step;
        this.experiment = experiment;
    }

    /** Writes a checkpoint to {@code target}, replacing what is there only once the new one is complete. */
    public static void write(Path target, LanguageModel model, Tokenizer tokenizer, Map<String, String> experiment,
                             TrainingState state) {
        write(target, model, tokenizer, experiment, state, null, null);
    }

    /**
     * The same, with the chat template the model was tuned with (null: none) and, for a LoRA run, the adapter and its
     * base (null: the whole model's weights): a LoRA checkpoint holds {@code adapter_config.json} and
     * {@code adapter_model.safetensors}, PEFT's files, and names its base instead of copying it.
     */
    public static void write(Path target, LanguageModel model, Tokenizer tokenizer, Map<String, String> experiment,
                             TrainingState state, ChatTemplate template, Adapter adapter) {
        Path parent = target.toAbsolutePath().getParent();
        Path temporary = null;
        try {
            Files.createDirectories(parent);
            temporary = Files.createTempDirectory(parent, ".writing-" + target.getFileName() + "-");
            Map<String, Object> config = new LinkedHashMap<>();
            config.put("kiln_checkpoint", FORMAT);
            config.put("model", model.modelId());
            Map<String, Object> hyper = new TreeMap<>();
            model.hyperparameters().values().forEach((k, v) -> hyper.put(k, jsonValue(v)));
            config.put("hyperparameters", hyper);
            config.put("tokenizer", tokenizer.id());
            config.put("step", state == null ? 0 : state.step());
            config.put("experiment", new TreeMap<>(experiment));
            if (adapter != null) {
                Map<String, Object> base = new LinkedHashMap<>();
                base.put("path", adapter.base().toAbsolutePath().normalize().toString());
                base.put("sha256", adapter.baseDigest());
                config.put("base", base);
            }
            Files.writeString(temporary.resolve(CONFIG), Json.write(config), StandardCharsets.UTF_8);

            if (adapter != null) {
                PeftAdapter.of(model, adapter.config(), adapter.base().toAbsolutePath().normalize().toString())
                        .save(temporary, model);
            } else {
                SafeTensors.Writer weights = SafeTensors.writer().metadata("format", "pt");
                model.namedParameters().forEach((name, p) -> weights.floats(name, p.toFloatArray(), p.shape()));
                weights.write(temporary.resolve(WEIGHTS));
            }
            tokenizer.save(temporary.resolve(TOKENIZER));
            if (template != null) {
                Map<String, Object> tokenizerConfig = new LinkedHashMap<>();
                tokenizerConfig.put("chat_template", template.jinja());
                tokenizerConfig.put("eos_token", template.stopToken());
                tokenizerConfig.put("tokenizer_class", "PreTrainedTokenizerFast");
                Files.writeString(temporary.resolve(TOKENIZER_CONFIG), Json.write(tokenizerConfig),
                        StandardCharsets.UTF_8);
            }
            if (state != null) {
                writeState(temporary.resolve(STATE), state);
            }
            replace(temporary, target);
            temporary = null;
        } catch (IOException e) {
            throw new KilnException("cannot write checkpoint " + target + ": " + e.getMessage(), e);
        } finally {
            if (temporary != null) {
                deleteTree(temporary);
            }
        }
    }

    private static void replace(Path complete, Path target) throws IOException {
        if (!Files.exists(target)) {
            Files.move(complete, target, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = complete.resolveSibling(".replaced-" + target.getFileName() + "-" + System.nanoTime());
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(complete, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    private static void writeState(Path file, TrainingState state) {
        SafeTensors.Writer writer = SafeTensors.writer();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("step", Integer.toString(state.step()));
        meta.put("optimizer_step", Integer.toString(state.optimizer().step()));
        meta.put("generator_seed", Long.toString(state.generator()[0]));
        meta.put("generator_counter", Long.toString(state.generator()[1]));
        meta.put("data_cursor", Long.toString(state.dataCursor()));
        meta.put("best_validation_loss", Double.toString(state.bestValidationLoss()));
        meta.put("best_step", Integer.toString(state.bestStep()));
        meta.put("evaluations_since_best", Integer.toString(state.evaluationsSinceBest()));
        meta.put("elapsed_seconds", Double.toString(state.elapsedSeconds()));
        meta.put("ranks", Integer.toString(state.ranks()));
        writer.metadata(meta);
        state.optimizer().tensors().forEach((key, values) -> writer.floats("optimizer." + key, values,
                new int[] {values.length}));
        writer.write(file);
    }

    /** Opens a checkpoint directory, checking that its files are there and its config reads. */
    public static Checkpoint open(Path directory) {
        if (!Files.isDirectory(directory)) {
            throw new KilnException("checkpoint " + directory + " does not exist or is not a directory");
        }
        boolean adapter = Files.isRegularFile(directory.resolve(PeftAdapter.CONFIG));
        for (String name : new String[] {CONFIG, adapter ? PeftAdapter.WEIGHTS : WEIGHTS, TOKENIZER}) {
            if (!Files.isRegularFile(directory.resolve(name))) {
                throw new KilnException("checkpoint " + directory + " has no " + name + "; a Kiln checkpoint holds "
                        + CONFIG + ", " + WEIGHTS + " (or a LoRA adapter's " + PeftAdapter.CONFIG + " and "
                        + PeftAdapter.WEIGHTS + ") and " + TOKENIZER);
            }
        }
        Path configFile = directory.resolve(CONFIG);
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(configFile, StandardCharsets.UTF_8), configFile.toString());
        } catch (IOException e) {
            throw new KilnException("cannot read " + configFile + ": " + e.getMessage(), e);
        }
        if (parsed instanceof Map<?, ?> hf && hf.get("model_type") != null && hf.get("model") == null) {
            return snapshot(directory, configFile, hf);
        }
        if (!(parsed instanceof Map<?, ?> config) || !(config.get("model") instanceof String model)
                || !(config.get("hyperparameters") instanceof Map<?, ?> hyper)
                || !(config.get("tokenizer") instanceof String tokenizer)) {
            throw new KilnException(configFile + " is not a Kiln checkpoint config (it needs model, hyperparameters "
                    + "and tokenizer) nor a Hugging Face one (it needs model_type)");
        }
        Map<String, String> hyperparameters = new LinkedHashMap<>();
        hyper.forEach((k, v) -> hyperparameters.put((String) k, String.valueOf(v)));
        Map<String, String> experiment = new TreeMap<>();
        if (config.get("experiment") instanceof Map<?, ?> map) {
            map.forEach((k, v) -> experiment.put((String) k, String.valueOf(v)));
        }
        int step = config.get("step") instanceof Number n ? n.intValue() : 0;
        Path base = null;
        String baseDigest = "";
        if (adapter) {
            if (!(config.get("base") instanceof Map<?, ?> b) || !(b.get("path") instanceof String path)) {
                throw new KilnException(configFile + " belongs to a LoRA checkpoint but names no base (\"base\": "
                        + "{\"path\": …}); load the adapter onto its base with the adapter's own tools");
            }
            base = Path.of(path);
            baseDigest = b.get("sha256") instanceof String d ? d : "";
        }
        return new Checkpoint(directory, model, new Options(hyperparameters), tokenizer, step, experiment, base,
                baseDigest, false);
    }

    /**
     * Hugging Face's {@code config.json} keys of each {@code model_type} Kiln loads, and the model that reads them:
     * GPT-2's keys are the gpt model's own option names.
     */
    private static final Map<String, Map.Entry<String, Set<String>>> SNAPSHOT_MODELS = Map.of("gpt2", Map.entry("gpt",
            Set.of("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "layer_norm_epsilon",
                    "activation_function")));

    /** A snapshot as {@code transformers}' {@code save_pretrained} writes it, with a byte-level BPE tokenizer.json. */
    private static Checkpoint snapshot(Path directory, Path configFile, Map<?, ?> config) {
        Object type = config.get("model_type");
        Map.Entry<String, Set<String>> model = SNAPSHOT_MODELS.get(String.valueOf(type));
        if (model == null) {
            throw new KilnException(configFile + " describes a Hugging Face '" + type + "' model; Kiln loads "
                    + "snapshots of " + new TreeSet<>(SNAPSHOT_MODELS.keySet()));
        }
        if (config.get("n_inner") != null) {
            throw new KilnException(configFile + " sets n_inner " + config.get("n_inner") + "; Kiln's gpt has an "
                    + "MLP of 4 × n_embd (n_inner null)");
        }
        if (Boolean.FALSE.equals(config.get("tie_word_embeddings"))) {
            throw new KilnException(configFile + " unties the output layer (tie_word_embeddings false); Kiln's gpt "
                    + "shares it with the token embedding, as GPT-2 does");
        }
        Map<String, String> hyperparameters = new TreeMap<>();
        for (String key : model.getValue()) {
            if (config.get(key) != null) {
                hyperparameters.put(key, String.valueOf(config.get(key)));
            }
        }
        return new Checkpoint(directory, model.getKey(), new Options(hyperparameters), "bpe", 0, new TreeMap<>(),
                null, "", true);
    }

    /** Whether this is a Hugging Face snapshot rather than a checkpoint Kiln wrote. */
    public boolean isSnapshot() {
        return snapshot;
    }

    /**
     * Builds the model through {@code provider} and loads the weights. A checkpoint of another model, or a tensor of
     * another shape, is an error naming the tensor and both shapes.
     */
    public LanguageModel loadModel(ModelProvider provider, Backend backend, Generator generator) {
        return loadModel(provider, backend, generator, true);
    }

    /**
     * The same; {@code strict} refuses tensors in the file that the model does not have (PyTorch's
     * {@code load_state_dict(strict=True)}), {@code false} ignores them.
     */
    public LanguageModel loadModel(ModelProvider provider, Backend backend, Generator generator, boolean strict) {
        if (!provider.id().equals(modelId)) {
            throw new KilnException("checkpoint " + directory + " holds a " + modelId + " model, not " + provider.id());
        }
        if (base != null) {
            return loadAdapted(provider, backend, generator, strict);
        }
        LanguageModel model = provider.create(backend, hyperparameters, generator);
        SafeTensors weights = SafeTensors.read(directory.resolve(WEIGHTS));
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        Map<String, String> stored = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            String name = e.getKey();
            String file = name;
            if (snapshot && !weights.contains(name) && name.indexOf('.') > 0
                    && weights.contains(name.substring(name.indexOf('.') + 1))) {
                file = name.substring(name.indexOf('.') + 1);      // GPT2Model's names lack GPT2LMHeadModel's prefix
            }
            stored.put(file, name);
            if (!weights.contains(file)) {
                throw new KilnException("checkpoint " + directory.resolve(WEIGHTS) + " has no tensor " + name
                        + ", which the " + modelId + " model needs (shape "
                        + java.util.Arrays.toString(e.getValue().shape()) + ")");
            }
            int[] shape = weights.shape(file);
            if (!java.util.Arrays.equals(shape, e.getValue().shape())) {
                throw new KilnException("checkpoint " + directory.resolve(WEIGHTS) + ": tensor " + name + " has shape "
                        + java.util.Arrays.toString(shape) + " but the model expects "
                        + java.util.Arrays.toString(e.getValue().shape()));
            }
            values.put(name, weights.floats(file));
            shapes.put(name, shape);
        }
        if (strict) {
            Set<String> unexpected = new TreeSet<>(weights.names());
            unexpected.removeAll(stored.keySet());
            if (snapshot) {      // the causal-mask buffers and the tied output layer transformers may write
                unexpected.removeIf(n -> n.endsWith(".attn.bias") || n.endsWith(".attn.masked_bias")
                        || n.equals("lm_head.weight"));
            }
            if (!unexpected.isEmpty()) {
                throw new KilnException("checkpoint " + directory.resolve(WEIGHTS) + " holds tensors the " + modelId
                        + " model does not have: " + unexpected + " (load with strict=false to ignore them)");
            }
        }
        model.loadStateDict(values, shapes);
        return model;
    }

    /** The base's weights with this checkpoint's adapter attached; a base that changed or is gone is an error. */
    private LanguageModel loadAdapted(ModelProvider provider, Backend backend, Generator generator, boolean strict) {
        Checkpoint baseCheckpoint;
        try {
            baseCheckpoint = open(base);
        } catch (KilnException e) {
            throw new KilnException("LoRA checkpoint " + directory + " adapts the base " + base + ", which cannot be "
                    + "opened: " + e.getMessage());
        }
        if (baseCheckpoint.isAdapter()) {
            throw new KilnException("the base " + base + " of " + directory + " is itself a LoRA checkpoint; merge it "
                    + "first (kiln merge)");
        }
        String digest = weightsDigest(base);
        if (!baseDigest.isEmpty() && !baseDigest.equals(digest)) {
            throw new KilnException("the base " + base + " of LoRA checkpoint " + directory + " has changed since "
                    + "the adapter was trained (its " + WEIGHTS + " has SHA-256 " + digest + ", the adapter expects "
                    + baseDigest + ")");
        }
        LanguageModel model = baseCheckpoint.loadModel(provider, backend, generator, strict);
        PeftAdapter.read(directory).attach(model, generator);
        return model;
    }

    /**
     * Refuses a tokenizer whose vocabulary is not the model's: ids the model cannot embed, or ids it would generate
     * that the tokenizer cannot decode (which would end a generation halfway).
     */
    public void checkVocabulary(Tokenizer tokenizer, LanguageModel model) {
        if (tokenizer.vocabSize() != model.vocabSize()) {
            throw new KilnException("checkpoint " + directory + ": its tokenizer has " + tokenizer.vocabSize()
                    + " tokens but its " + modelId + " model's vocabulary has " + model.vocabSize()
                    + " (the tokenizer.json and the weights come from different runs)");
        }
    }

    /** Whether this is a LoRA checkpoint (an adapter over a base). */
    public boolean isAdapter() {
        return base != null;
    }

    /** The base a LoRA checkpoint adapts. */
    public Optional<Path> base() {
        return Optional.ofNullable(base);
    }

    /** The SHA-256 of a checkpoint's weights file, what a LoRA checkpoint records of its base. */
    public static String weightsDigest(Path checkpoint) {
        try (InputStream in = Files.newInputStream(checkpoint.resolve(WEIGHTS))) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new KilnException("cannot read " + checkpoint.resolve(WEIGHTS) + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The chat template saved with this checkpoint ({@code chat_template} in {@code tokenizer_config.json}); none when
     * the file or the key is missing. A template Kiln does not render is an error naming it.
     */
    public Optional<ChatTemplate> chatTemplate() {
        Path file = directory.resolve(TOKENIZER_CONFIG);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            Object parsed = Json.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
            if (parsed instanceof Map<?, ?> map && map.get("chat_template") instanceof String jinja) {
                return Optional.of(ChatTemplate.fromJinja(jinja));
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new KilnException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    public Tokenizer loadTokenizer(TokenizerProvider provider) {
        if (!provider.id().equals(tokenizerId)) {
            throw new KilnException("checkpoint " + directory + " holds a " + tokenizerId + " tokenizer, not "
                    + provider.id());
        }
        return provider.load(directory.resolve(TOKENIZER));
    }

    /** The training state, when this checkpoint was written by a run that can be resumed. */
    public Optional<TrainingState> trainingState() {
        Path file = directory.resolve(STATE);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        SafeTensors state = SafeTensors.read(file);
        Map<String, String> meta = state.metadata();
        try {
            Map<String, float[]> moments = new LinkedHashMap<>();
            for (String name : state.names()) {
                if (!name.startsWith("optimizer.")) {
                    throw new KilnException(file + ": unexpected tensor " + name);
                }
                moments.put(name.substring("optimizer.".length()), state.floats(name));
            }
            return Optional.of(new TrainingState(Integer.parseInt(required(meta, "step", file)),
                    new OptimizerState(Integer.parseInt(required(meta, "optimizer_step", file)), moments),
                    new long[] {Long.parseLong(required(meta, "generator_seed", file)),
                            Long.parseLong(required(meta, "generator_counter", file))},
                    Long.parseLong(required(meta, "data_cursor", file)),
                    Double.parseDouble(required(meta, "best_validation_loss", file)),
                    Integer.parseInt(required(meta, "best_step", file)),
                    Integer.parseInt(required(meta, "evaluations_since_best", file)),
                    Double.parseDouble(required(meta, "elapsed_seconds", file)),
                    Integer.parseInt(meta.getOrDefault("ranks", "1"))));
        } catch (NumberFormatException e) {
            throw new KilnException(file + ": a training-state value is not a number (" + e.getMessage() + ")");
        }
    }

    private static String required(Map<String, String> meta, String key, Path file) {
        String value = meta.get(key);
        if (value == null) {
            throw new KilnException(file + " has no " + key + " in its metadata");
        }
        return value;
    }

    public Path directory() {
        return directory;
    }

    public String modelId() {
        return modelId;
    }

    public Options hyperparameters() {
        return hyperparameters;
    }

    public String tokenizerId() {
        return tokenizerId;
    }

    public int step() {
        return step;
    }

    /** The experiment config of the run that wrote it (empty for a bare model export). */
    public Map<String, String> experiment() {
        return experiment;
    }

    private static Object jsonValue(String value) {
        if (value.equals("true") || value.equals("false")) {
            return Boolean.parseBoolean(value);
        }
        if (value.matches("-?\\d{1,18}")) {
            return Long.parseLong(value);
        }
        if (value.matches("-?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?")) {
            double d = Double.parseDouble(value);
            if (Double.isFinite(d)) {
                return d;
            }
        }
        return value;
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new KilnException("cannot delete " + root + ": " + e.getMessage(), e);
        }
    }
}
