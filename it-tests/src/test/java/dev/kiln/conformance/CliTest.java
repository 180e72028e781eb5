package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.Json;
import dev.kiln.api.model.LanguageModel;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.peft.PeftAdapter;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Generator;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.cli.Kiln;
import dev.kiln.model.transformer.HuggingFaceGpt2;
import dev.kiln.serve.KilnServer;
import dev.kiln.serve.ServeSettings;
import dev.kiln.serve.ServedModel;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.data.CacheDirectory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.module.ResolvedModule;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kiln command as users type it: exit codes, one-line errors, every subcommand, outside plugins, Ctrl-C. */
class CliTest {
    private static Path corpus;

    @BeforeAll
    static void smallCorpus(@TempDir Path dir) throws IOException {
        corpus = dir.resolve("shakespeare-head.txt");
        Files.writeString(corpus, Files.readString(SharedData.shared().resolve("data/tinyshakespeare.txt"))
                .substring(0, 60_000));
    }

    record Outcome(int code, String out, String err) {
        List<String> errLines() {
            return err.lines().filter(l -> !l.isBlank()).toList();
        }
    }

    static Outcome kiln(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Kiln.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Outcome(code, out.toString(), err.toString());
    }

    /** The tiny model every training test here uses, as key=value arguments. */
    private static List<String> tiny(Path cache) {
        return List.of("model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.n_positions=32",
                "train.context=32", "train.batch_size=4", "tokenizer.vocab_size=300", "train.eval_tokens=2048",
                "data.cache=" + cache);
    }

    private static String[] args(List<String> first, List<String> rest) {
        List<String> all = new ArrayList<>(first);
        all.addAll(rest);
        return all.toArray(String[]::new);
    }

    /** A seq2seq run from the command line: train on the example's pairs, transduce with --source, eval with BLEU. */
    @Test
    void seq2seqTrainsGeneratesAndEvaluates(@TempDir Path dir) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("../examples/numbers-to-words/pairs.tsv"));
        Path pairs = dir.resolve("pairs.tsv");
        Files.write(pairs, lines.subList(0, 400));
        Outcome refused = kiln("train", "--model", "seq2seq", "--data", pairs.toString(), "--out",
                dir.resolve("refused").toString(), "data.cache=" + dir.resolve("cache"), "model.d_model=16", "model.nhead=2",
                "model.num_encoder_layers=1", "model.num_decoder_layers=1", "model.dim_feedforward=16",
                "tokenizer.vocab_size=280");
        assertEquals(1, refused.code(), refused.err());
        assertTrue(refused.err().contains("task seq2seq") && refused.err().contains("examples/numbers-to-words"),
                refused.err());
        Path run = dir.resolve("run");
        Outcome train = kiln("train", "--config", "../examples/numbers-to-words/config.yaml", "--data",
                pairs.toString(), "--out", run.toString(), "train.steps=20", "train.eval_every=20",
                "train.batch_size=16", "model.d_model=32", "model.dim_feedforward=64", "task.eval_decode=20",
                "data.cache=" + dir.resolve("cache"));
        assertEquals(0, train.code(), train.err());
        assertTrue(train.out().contains("BLEU"), train.out());
        Outcome generated = kiln("generate", "--checkpoint", run.toString(), "--source", "40,710", "--beam", "2");
        assertEquals(0, generated.code(), generated.err());
        assertEquals(1, generated.out().lines().count(), generated.out());
        Outcome noSource = kiln("generate", "--checkpoint", run.toString(), "--prompt", "40,710");
        assertEquals(1, noSource.code());
        assertTrue(noSource.err().contains("--source"), noSource.err());
        Outcome eval = kiln("eval", "--checkpoint", run.toString(), "--data", pairs.toString(), "--beam", "1", "--json");
        assertEquals(0, eval.code(), eval.err());
        Map<?, ?> report = (Map<?, ?>) Json.parse(eval.out().strip(), "eval");
        assertEquals("greedy", report.get("decoding"));
        assertEquals("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", report.get("bleu_signature"));
        for (String key : List.of("bleu", "chrf", "exact_match", "token_accuracy", "perplexity")) {
            assertTrue(report.get(key) instanceof Number, key + " in " + report);
        }
        assertEquals(400L, ((Number) report.get("pairs")).longValue());

        // kiln serve completes a source with the same greedy translation
        Outcome greedy = kiln("generate", "--checkpoint", run.toString(), "--source", "40,710", "--beam", "1");
        assertEquals(0, greedy.code(), greedy.err());
        try (ServedModel served = ServedModel.load(Plugins.load(ModuleLayer.boot()), run, null, "cpu", "numbers");
             KilnServer server = KilnServer.start(served, ServeSettings.defaults().withPort(0))) {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(server.baseUrl() + "/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"model\": \"numbers\", \"prompt\": \"40,710\", \"max_tokens\": 500, \"temperature\": 0}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode(), response.body());
            Map<?, ?> body = (Map<?, ?>) Json.parse(response.body(), "completion");
            Map<?, ?> choice = (Map<?, ?>) ((List<?>) body.get("choices")).getFirst();
            assertEquals(greedy.out().strip(), ((String) choice.get("text")).strip());
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /** Short instruction examples in all three formats, answerable by a tiny model's 32-token context. */
    private static Path instructions(Path dir) throws IOException {
        List<String> lines = new ArrayList<>();
        String[] names = {"ROMEO", "JULIET", "HAMLET", "LEAR"};
        for (int i = 0; i < 96; i++) {
            String name = names[i % names.length];
            lines.add(switch (i % 3) {
                case 0 -> "{\"messages\": [{\"role\": \"user\", \"content\": \"Name " + i % 4 + "?\"}, "
                        + "{\"role\": \"assistant\", \"content\": \"" + name + "\"}]}";
                case 1 -> "{\"instruction\": \"Name " + i % 4 + "?\", \"output\": \"" + name + "\"}";
                default -> "{\"prompt\": \"Name " + i % 4 + "? \", \"completion\": \"" + name + "\"}";
            });
        }
        Path file = dir.resolve("instructions.jsonl");
        Files.write(file, lines);
        return file;
    }

    /**
     * Instruction fine-tuning from the command line: pre-train, LoRA sft (adapter files and no copy of the base),
     * evaluate, merge (same scores), resume, a changed base refused, and kiln chat driven through a pseudo-terminal.
     */
    @Test
    void loraInstructionTuningMergesEvaluatesResumesAndChats(@TempDir Path dir) throws Exception {
        Path base = dir.resolve("base");
        Path cache = dir.resolve("cache");
        Outcome pretrain = kiln(args(List.of("train", "--data", corpus.toString(), "--out", base.toString(),
                "train.steps=10", "train.eval_every=10", "train.sample_tokens=0"), tiny(cache)));
        assertEquals(0, pretrain.code(), pretrain.err());
        Path data = instructions(dir);
        Path lora = dir.resolve("lora");
        Outcome tune = kiln(args(List.of("train", "--task", "sft", "--data", data.toString(), "--out", lora.toString(),
                "train.init_from=" + base, "train.lora.r=4", "train.lora.target_modules=c_attn,c_proj,c_fc",
                "train.steps=8", "train.eval_every=8", "task.eval_generate=4", "train.sample_tokens=0"), tiny(cache)));
        assertEquals(0, tune.code(), tune.err());
        assertTrue(tune.out().contains("added the special tokens [<|im_start|>, <|im_end|>]"), tune.out());
        assertTrue(tune.out().contains("lora: r=4") && tune.out().contains("trainable of"), tune.out());
        assertTrue(tune.out().contains("exact match"), tune.out());
        Path checkpoint;
        try (Stream<Path> list = Files.list(lora.resolve("checkpoints"))) {
            checkpoint = list.filter(p -> p.getFileName().toString().startsWith("step-")).findFirst().orElseThrow();
        }
        for (String file : List.of("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                "tokenizer_config.json", "config.json")) {
            assertTrue(Files.isRegularFile(checkpoint.resolve(file)), file);
        }
        assertFalse(Files.exists(checkpoint.resolve("model.safetensors")), "a LoRA checkpoint does not copy its base");
        assertTrue(Files.readString(checkpoint.resolve("tokenizer_config.json")).contains("<|im_start|>"));

        Outcome chatless = kiln("chat", "--checkpoint", base.toString());
        assertEquals(1, chatless.code());
        assertTrue(chatless.err().contains("no chat template"), chatless.err());

        Outcome adapted = kiln("eval", "--checkpoint", lora.toString(), "--data", data.toString(), "--json");
        Path merged = dir.resolve("merged");
        Outcome merge = kiln("merge", "--checkpoint", lora.toString(), "--out", merged.toString());
        assertEquals(0, merge.code(), merge.err());
        assertTrue(Files.isRegularFile(merged.resolve("model.safetensors")));
        Outcome again = kiln("merge", "--checkpoint", lora.toString(), "--out", merged.toString());
        assertTrue(again.code() == 1 && again.err().contains("already exists"), again.err());
        Outcome folded = kiln("eval", "--checkpoint", merged.toString(), "--task", "sft", "--data", data.toString(),
                "--json");
        assertEquals(0, adapted.code(), adapted.err());
        assertEquals(0, folded.code(), folded.err());
        Map<?, ?> a = (Map<?, ?>) Json.parse(adapted.out().strip(), "eval");
        Map<?, ?> m = (Map<?, ?>) Json.parse(folded.out().strip(), "eval");
        assertEquals(((Number) a.get("loss")).doubleValue(), ((Number) m.get("loss")).doubleValue(), 1e-4);
        assertEquals(a.get("exact_match"), m.get("exact_match"));
        assertEquals(96L, ((Number) a.get("answered")).longValue());
        Outcome before = kiln("eval", "--checkpoint", base.toString(), "--task", "sft", "--data", data.toString(),
                "--json", "--generate", "4");
        assertEquals(0, before.code(), before.err());

        Outcome resumed = kiln("train", "--resume", lora.toString(), "train.steps=10");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("steps 8 → 10"), resumed.out());

        Path moved = dir.resolve("changed-base");
        Files.createDirectories(moved);
        for (String file : List.of("adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                "tokenizer_config.json")) {
            Files.copy(checkpoint.resolve(file), moved.resolve(file));
        }
        String config = Files.readString(checkpoint.resolve("config.json"));
        Files.writeString(moved.resolve("config.json"), config.replaceAll("\"sha256\":\"[0-9a-f]+\"",
                "\"sha256\":\"" + "0".repeat(64) + "\""));
        Outcome changed = kiln("eval", "--checkpoint", moved.toString(), "--data", data.toString());
        assertEquals(1, changed.code());
        assertTrue(changed.err().contains("has changed since the adapter was trained"), changed.err());

        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")),
                "no script(1) for a pseudo-terminal");
        List<String> chat = childKiln();
        chat.addAll(List.of("chat", "--checkpoint", lora.toString(), "--max-tokens", "4", "--temperature", "0"));
        Process process = new ProcessBuilder("/usr/bin/script", "-qec", String.join(" ", chat), "/dev/null")
                .redirectErrorStream(true).start();
        process.getOutputStream().write("Name 1?\n/reset\nName 2?\n".getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().close();                                            // Ctrl-D: end of input
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), output);
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("chatting with") && output.contains("chatml template"), output);
        assertTrue(output.contains("(conversation cleared)"), output);
        assertTrue(output.lines().filter(l -> l.startsWith("> ")).count() >= 3, output);
    }

    /** Every command takes --help; tokenizer train has a default vocabulary size. */
    @Test
    void everyCommandTakesHelpAndTokenizerTrainNeedsNoVocabularySize(@TempDir Path dir) {
        for (List<String> command : List.of(List.of("train"), List.of("eval"), List.of("generate"), List.of("chat"),
                List.of("merge"), List.of("serve"), List.of("plugins"), List.of("bench"), List.of("tokenizer", "train"),
                List.of("tokenizer", "encode"))) {
            List<String> args = new ArrayList<>(command);
            args.add("--help");
            Outcome help = kiln(args.toArray(String[]::new));
            assertEquals(0, help.code(), command + ": " + help.err());
            assertTrue(help.out().contains("Usage: kiln " + String.join(" ", command)), help.out());
        }
        Path vocabulary = dir.resolve("tokenizer.json");
        Outcome trained = kiln("tokenizer", "train", "--data", corpus.toString(), "--out", vocabulary.toString());
        assertEquals(0, trained.code(), trained.err());
        assertTrue(Files.isRegularFile(vocabulary));
    }

    /**
     * A Hugging Face GPT-2 snapshot (transformers' save_pretrained) works where a checkpoint does: generate gives
     * transformers' greedy continuation, eval its loss on a text shorter than the context.
     */
    @Test
    void generateAndEvalTakeAHuggingFaceSnapshot(@TempDir Path dir) throws IOException {
        Path snapshot = SharedData.fixtures().resolve("hf_gpt2_tiny");
        Map<?, ?> expected = (Map<?, ?>) Json.parse(Files.readString(snapshot.resolve("expected.json")), "expected");
        Outcome generated = kiln("generate", "--checkpoint", snapshot.toString(), "--prompt",
                (String) expected.get("prompt"), "--max-tokens", "24", "--temperature", "0");
        assertEquals(0, generated.code(), generated.err());
        assertTrue(generated.out().contains(expected.get("prompt") + (String) expected.get("greedy_text")),
                generated.out());
        Path text = dir.resolve("text.txt");
        Files.writeString(text, (String) expected.get("loss_text"));
        Outcome evaluated = kiln("eval", "--checkpoint", snapshot.toString(), "--data", text.toString(), "--json");
        assertEquals(0, evaluated.code(), evaluated.err());
        Map<?, ?> result = (Map<?, ?>) Json.parse(evaluated.out().strip(), "eval");
        double loss = ((Number) expected.get("loss")).doubleValue();
        assertEquals(loss, ((Number) result.get("loss")).doubleValue(), 1e-5 * loss);

        // a tokenizer that is not the model's is refused when the checkpoint loads, not halfway through a generation
        Path mixed = dir.resolve("mixed");
        Files.createDirectories(mixed);
        for (String file : List.of("config.json", "model.safetensors")) {
            Files.copy(snapshot.resolve(file), mixed.resolve(file));
        }
        dev.kiln.tokenizer.bpe.HuggingFaceFiles.writeTokenizerJson((dev.kiln.tokenizer.bpe.BpeTokenizer)
                TokenizerExactnessTest.tokenizers().get("bpe").train("hello world ".repeat(50),
                        Options.of("vocab_size", "270")), mixed.resolve("tokenizer.json"));
        Outcome refused = kiln("generate", "--checkpoint", mixed.toString(), "--prompt", "hello");
        assertEquals(1, refused.code(), refused.err());
        assertTrue(refused.err().contains("its tokenizer has") && refused.err().contains("50257"), refused.err());
    }

    /** Resuming a finished run by a relative path reports where its checkpoint is (it used to fail on the paths). */
    @Test
    void resumingACompletedRunByARelativePathSucceeds(@TempDir Path dir) {
        Path run = dir.resolve("run");
        Outcome first = kiln(args(List.of("train", "--data", corpus.toString(), "--out", run.toString(),
                "train.steps=4", "train.eval_every=4", "train.sample_tokens=0"), tiny(dir.resolve("c"))));
        assertEquals(0, first.code(), first.err());
        String relative = Path.of("").toAbsolutePath().relativize(run.toAbsolutePath()).toString();
        Outcome again = kiln("train", "--resume", relative);
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("latest checkpoint checkpoints/step-0000004"), again.out());
    }

    @Test
    void pluginsListsEveryProviderWithModuleVersionAndAvailability() {
        Outcome o = kiln("plugins");
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().lines().anyMatch(l -> l.matches("backend\\s+cpu\\s+dev\\.kiln\\.backend\\.cpu\\s+"
                + "\\d+\\.\\d+\\.\\d+\\S*\\s+\\d+\\s+yes")), o.out());
        for (String id : List.of("gpt", "lstm", "bpe", "char")) {
            assertTrue(o.out().lines().anyMatch(l -> l.split("\\s+").length > 1 && l.split("\\s+")[1].equals(id)),
                    id + " in " + o.out());
        }
    }

    @Test
    void theDefaultRunShortenedTrainsSamplesAndReports(@TempDir Path dir) {
        // the bundled corpus and the bundled default experiment, made small by overrides
        Outcome o = kiln(args(List.of("train", "--out", dir.resolve("run").toString(), "train.steps=20",
                "train.eval_every=20", "train.sample_tokens=30", "train.sample_prompt=ROMEO:"), tiny(dir.resolve("c"))));
        assertEquals(0, o.code(), o.err() + o.out());
        assertTrue(o.out().contains("tinyshakespeare (bundled)"), o.out());
        assertTrue(o.out().matches("(?s).*validation: \\d+\\.\\d+ bits per byte.*"), o.out());
        assertTrue(o.out().contains("wall time:") && o.out().contains("ROMEO:"), o.out());
        assertTrue(Files.isRegularFile(dir.resolve("run/config.json")));
        assertTrue(Files.isRegularFile(dir.resolve("run/loss.svg")));

        Outcome generated = kiln("generate", "--checkpoint", dir.resolve("run").toString(), "--prompt", "KING:",
                "--max-tokens", "12", "--seed", "3");
        assertEquals(0, generated.code(), generated.err());
        assertTrue(generated.out().startsWith("KING:") && generated.out().length() > 6, generated.out());
        Outcome greedy1 = kiln("generate", "--checkpoint", dir.resolve("run").toString(), "--prompt", "KING:",
                "--max-tokens", "12", "--temperature", "0");
        Outcome greedy2 = kiln("generate", "--checkpoint", dir.resolve("run").toString(), "--prompt", "KING:",
                "--max-tokens", "12", "--temperature", "0", "--seed", "99");
        assertEquals(greedy1.out(), greedy2.out(), "greedy ignores the seed");

        Outcome scored = kiln("eval", "--checkpoint", dir.resolve("run").toString(), "--data", corpus.toString(),
                "--max-tokens", "2048", "--json");
        assertEquals(0, scored.code(), scored.err());
        Map<?, ?> json = (Map<?, ?>) Json.parse(scored.out().trim(), "eval output");
        double bpb = ((Number) json.get("bits_per_byte")).doubleValue();
        assertTrue(bpb > 1 && bpb < 8, "bits per byte " + bpb);
        assertTrue(((Number) json.get("accuracy")).doubleValue() > 0);
    }

    @Test
    void resumingARunFromTheCommandLineContinuesIt(@TempDir Path dir) {
        Path run = dir.resolve("run");
        assertEquals(0, kiln(args(List.of("train", "--data", corpus.toString(), "--out", run.toString(),
                "train.steps=6", "train.eval_every=3", "train.sample_tokens=0"), tiny(dir.resolve("c")))).code());
        Outcome again = kiln(args(List.of("train", "--data", corpus.toString(), "--out", run.toString(),
                "train.steps=6"), tiny(dir.resolve("c"))));
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already holds a run"), again.err());
        Outcome resumed = kiln("train", "--resume", run.toString(), "train.steps=9");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("resuming") && resumed.out().contains("after 9 steps"), resumed.out());
    }

    @Test
    void mistakesAreOneClearLineAndAStackTraceOnlyWhenVerbose(@TempDir Path dir) throws IOException {
        Outcome unknown = kiln("train", "--model", "transformerz", "--data", corpus.toString(), "--out",
                dir.resolve("r1").toString());
        assertEquals(2, unknown.code(), "an unknown plugin id is a configuration mistake");
        assertEquals(1, unknown.errLines().size(), unknown.err());
        assertTrue(unknown.err().contains("unknown model 'transformerz'") && unknown.err().contains("gpt")
                && unknown.err().contains("lstm"), unknown.err());

        Path config = dir.resolve("experiment.yaml");
        Files.writeString(config, "model:\n  id: gpt\n  n_layer: 1\ntrain:\n  stpes: 10\n");
        Outcome typo = kiln("train", "--config", config.toString(), "--data", corpus.toString());
        assertEquals(2, typo.code(), "a misspelt key is a configuration mistake");
        assertEquals(1, typo.errLines().size(), typo.err());
        assertTrue(typo.err().contains("train.stpes") && typo.err().contains("did you mean train.steps"), typo.err());

        Outcome verbose = kiln("train", "--config", config.toString(), "--data", corpus.toString(), "--verbose");
        // a frame of the trainer, printed "at dev.kiln.trainer.…" or, on the module path, "at dev.kiln.trainer@…/…"
        assertTrue(verbose.err().lines().anyMatch(l -> l.strip().startsWith("at dev.kiln.trainer")
                && l.contains("dev.kiln.trainer.ExperimentConfig.")), verbose.err());

        Outcome missing = kiln("train", "--data", dir.resolve("nothing.txt").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("nothing.txt does not exist"), missing.err());

        Path empty = Files.createFile(dir.resolve("empty.txt"));
        assertTrue(kiln("train", "--data", empty.toString()).err().contains("is empty"));

        Outcome badModelOption = kiln("train", "--data", corpus.toString(), "--out", dir.resolve("r2").toString(),
                "model.n_layers=2", "data.cache=" + dir.resolve("c"), "tokenizer.vocab_size=300");
        assertEquals(2, badModelOption.code());
        assertTrue(badModelOption.err().contains("n_layers"), badModelOption.err());

        Outcome usage = kiln("train", "--no-such-flag");
        assertEquals(2, usage.code());
    }

    @Test
    void jsonConfigFilesAreReadAndTheEffectiveConfigIsSaved(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("lstm.json");
        Files.writeString(config, """
                {"model": {"id": "lstm", "embed_size": 16, "hidden_size": 32},
                 "tokenizer": "char",
                 "train": {"steps": 4, "eval_every": 4, "batch_size": 2, "context": 16, "sample_tokens": 5}}
                """);
        Outcome o = kiln("train", "--config", config.toString(), "--data", corpus.toString(), "--out",
                dir.resolve("run").toString(), "data.cache=" + dir.resolve("c"));
        assertEquals(0, o.code(), o.err());
        Map<?, ?> saved = (Map<?, ?>) Json.parse(Files.readString(dir.resolve("run/config.json")), "config");
        assertEquals("lstm", saved.get("model.id"));
        assertEquals("char", saved.get("tokenizer.id"));
        assertEquals("16", saved.get("model.embed_size"));
        assertFalse(saved.containsKey("model.n_layer"), "the default GPT's options are gone: " + saved);
    }

    @Test
    void tokenizerCommandsTrainEncodeAndDecode(@TempDir Path dir) {
        Path gpt2 = SharedData.shared().resolve("data/tiktoken/gpt2.tiktoken");
        Outcome encoded = kiln("tokenizer", "encode", "--tokenizer", gpt2.toString(), "--text", "hello world");
        assertEquals(0, encoded.code(), encoded.err());
        assertEquals("[31373,995]", encoded.out().trim().replace(" ", ""));
        Outcome decoded = kiln("tokenizer", "decode", "--tokenizer", gpt2.toString(), "--ids", "[31373, 995]");
        assertEquals("hello world", decoded.out().strip());

        Path trained = dir.resolve("tokenizer.json");
        Outcome train = kiln("tokenizer", "train", "--data", corpus.toString(), "--out", trained.toString(),
                "vocab_size=320");
        assertEquals(0, train.code(), train.err());
        Outcome roundTrip = kiln("tokenizer", "encode", "--tokenizer", trained.toString(), "--text", "To be, or not");
        String ids = roundTrip.out().trim();
        assertEquals("To be, or not", kiln("tokenizer", "decode", "--tokenizer", trained.toString(), "--ids", ids)
                .out().strip());
        Outcome outside = kiln("tokenizer", "decode", "--tokenizer", trained.toString(), "--ids", "[99999]");
        assertEquals(1, outside.code());
        assertTrue(outside.err().contains("99999"), outside.err());
        // beyond int: the id named, not an ArithmeticException
        Outcome huge = kiln("tokenizer", "decode", "--tokenizer", trained.toString(), "--ids", "[99999999999999]");
        assertEquals(1, huge.code());
        assertTrue(huge.err().contains("token id 99999999999999 is outside the vocabulary"), huge.err());
    }

    @Test
    void benchComparesBackendsSideBySide() {
        Outcome o = kiln("bench", "--workload", "gpt-mini", "--backends", "cpu,cpu", "--batch-size", "1",
                "--steps", "1", "--warmup", "0");
        assertEquals(0, o.code(), o.err());
        List<String> rows = o.out().lines().filter(l -> l.startsWith("cpu")).toList();
        assertEquals(2, rows.size(), o.out());
        // kernels add in one fixed order and use their own exp/tanh, so a cold and a warm JIT give the same bits
        assertTrue(rows.get(1).matches("cpu\\s+\\d+\\s+0\\.000e\\+00\\s+0\\.000e\\+00"),
                "the same backend agrees with itself exactly: " + rows.get(1));
        Outcome unknown = kiln("bench", "--backends", "cpu,cuda");
        assertTrue(unknown.err().contains("unknown backend 'cuda'"), unknown.err());
    }

    @Test
    void benchShowsCpuAndOpenClSideBySide() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Backends.registry().get("opencl").probe().available(),
                "no OpenCL device here");
        Outcome o = kiln("bench", "--workload", "lstm-seed", "--backends", "cpu,opencl", "--batch-size", "1",
                "--steps", "1", "--warmup", "0");
        assertEquals(0, o.code(), o.err());
        String opencl = o.out().lines().filter(l -> l.startsWith("opencl")).findFirst().orElseThrow();
        String[] columns = opencl.trim().split("\\s+");
        assertTrue(Double.parseDouble(columns[2]) < 1e-3 && Double.parseDouble(columns[3]) < 1e-3,
                "opencl agrees with cpu: " + opencl);
        assertTrue(o.out().lines().anyMatch(l -> l.startsWith("cpu")), o.out());
    }

    /** Compiles the bigram plugin (src/test/plugin-src) against the api module and packs it as a jar in a folder. */
    static Path buildOutsidePlugin(Path dir) throws IOException, InterruptedException {
        return buildOutsidePlugin(dir, "org.example.bigram");
    }

    /** Compiles one plugin of src/test/plugin-src against the api alone and jars it into dir/plugins. */
    static Path buildOutsidePlugin(Path dir, String module) throws IOException, InterruptedException {
        Path sources = Path.of(System.getProperty("kiln.plugin.sources"), module);
        Path classes = dir.resolve("classes-" + module);
        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        ResolvedModule api = ModuleLayer.boot().configuration().findModule("dev.kiln.api").orElseThrow();
        Path apiLocation = Path.of(api.reference().location().orElseThrow());
        List<String> javac = new ArrayList<>(List.of(tool("javac"), "--module-path", apiLocation.toString(), "-d",
                classes.toString()));
        try (Stream<Path> walk = Files.walk(sources)) {
            walk.filter(p -> p.toString().endsWith(".java")).forEach(p -> javac.add(p.toString()));
        }
        run(javac);
        run(List.of(tool("jar"), "--create", "--file", plugins.resolve(module + ".jar").toString(), "-C",
                classes.toString(), "."));
        return plugins;
    }

    private static String tool(String name) {
        return Path.of(System.getProperty("java.home"), "bin", name).toString();
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, process.waitFor(), String.join(" ", command) + "\n" + output);
    }

    @Test
    void aModelPluginBuiltOutsideKilnIsFoundTrainedAndSampledWithNoRebuild(@TempDir Path dir) throws Exception {
        Path plugins = buildOutsidePlugin(dir);
        Outcome listed = kiln("plugins", "--plugin-path", plugins.toString());
        assertTrue(listed.out().lines().anyMatch(l -> l.matches("model\\s+bigram\\s+org\\.example\\.bigram.*yes")),
                listed.out());
        Outcome trained = kiln(args(List.of("train", "--plugin-path", plugins.toString(), "--model", "bigram",
                "--data", corpus.toString(), "--out", dir.resolve("run").toString(), "train.steps=30",
                "train.eval_every=30", "train.sample_tokens=10", "train.lr=0.05"), List.of("train.context=32",
                "train.batch_size=8", "tokenizer.vocab_size=300", "data.cache=" + dir.resolve("c"))));
        assertEquals(0, trained.code(), trained.err() + trained.out());
        assertTrue(trained.out().contains("bits per byte"), trained.out());
        Outcome generated = kiln("generate", "--plugin-path", plugins.toString(), "--checkpoint",
                dir.resolve("run").toString(), "--prompt", "The", "--max-tokens", "5");
        assertEquals(0, generated.code(), generated.err());
        Outcome without = kiln("generate", "--checkpoint", dir.resolve("run").toString(), "--prompt", "The");
        assertTrue(without.err().contains("unknown model 'bigram'"), without.err());
    }

    @Test
    void aTaskPluginBuiltOutsideKilnTrainsThroughTheSameLoop(@TempDir Path dir) throws Exception {
        Path plugins = buildOutsidePlugin(dir, "org.example.lines");
        Outcome listed = kiln("plugins", "--plugin-path", plugins.toString());
        assertTrue(listed.out().lines().anyMatch(l -> l.matches("task\\s+lines\\s+org\\.example\\.lines.*yes")),
                listed.out());
        assertTrue(listed.out().lines().anyMatch(l -> l.matches("task\\s+lm\\s+dev\\.kiln\\.trainer.*yes")),
                listed.out());
        Outcome trained = kiln(args(List.of("train", "--plugin-path", plugins.toString(), "--task", "lines",
                "--data", corpus.toString(), "--out", dir.resolve("run").toString(), "train.steps=20",
                "train.eval_every=10", "train.sample_tokens=0", "task.min_tokens=3"), tiny(dir.resolve("c"))));
        assertEquals(0, trained.code(), trained.err() + trained.out());
        assertTrue(trained.out().contains("lines "), trained.out());
        List<Map<?, ?>> evals = TrainerTest.metrics(dir.resolve("run"), "eval");
        assertEquals(2, evals.size(), evals.toString());
        assertTrue(((Number) evals.get(1).get("val_loss")).doubleValue()
                < ((Number) evals.get(0).get("val_loss")).doubleValue(), evals.toString());
        assertTrue(evals.get(0).containsKey("val_lines"), evals.toString());
        Outcome typo = kiln(args(List.of("train", "--plugin-path", plugins.toString(), "--task", "lines",
                "--data", corpus.toString(), "--out", dir.resolve("typo").toString(), "task.min_tokns=3"),
                tiny(dir.resolve("c"))));
        assertEquals(2, typo.code(), typo.err());
        assertTrue(typo.err().contains("min_tokns"), typo.err());
        Outcome unknown = kiln(args(List.of("train", "--task", "translate", "--data", corpus.toString(), "--out",
                dir.resolve("unknown").toString()), tiny(dir.resolve("c"))));
        assertEquals(2, unknown.code(), unknown.err());
        assertTrue(unknown.err().contains("translate") && unknown.err().contains("lm"), unknown.err());
    }

    /** The java command line that runs the built cli in a child JVM, as the kiln launcher does. */
    private static List<String> childKiln() {
        Path app = Path.of(System.getProperty("kiln.cli.app"));
        List<String> command = new ArrayList<>();
        command.add(tool("java"));
        command.addAll(List.of(System.getProperty("kiln.jvm.flags").trim().split("\\s+")));
        command.addAll(List.of("--module-path", app.resolve("lib").toString(), "-m", "dev.kiln.cli/dev.kiln.cli.Kiln"));
        return command;
    }

    @Test
    void withoutAnOpenClPlatformThePluginSaysWhyAndTrainingStopsAtOnce(@TempDir Path dir) throws Exception {
        // an ICD loader with no vendor files: the OpenCL library loads but offers no platform; without the loader
        // itself (no ocl-icd-opencl-dev) there is nothing to empty, and the probe already says the library is missing
        String reason = Backends.registry().get("opencl").probe().reason();
        org.junit.jupiter.api.Assumptions.assumeTrue("1".equals(System.getenv("KILN_REQUIRE_OPENCL"))
                || reason == null || !reason.contains("could not be loaded"), reason);
        for (List<String> args : List.of(List.of("plugins"), List.of("train", "--backend", "opencl", "--data",
                corpus.toString(), "--out", dir.resolve("run").toString()))) {
            List<String> command = childKiln();
            command.addAll(args);
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            builder.environment().put("OCL_ICD_VENDORS", Files.createDirectories(dir.resolve("no-icd")).toString());
            Process process = builder.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int code = process.waitFor();
            if (args.getFirst().equals("plugins")) {
                assertEquals(0, code, output);
                assertTrue(output.lines().anyMatch(l -> l.matches("backend\\s+opencl\\s.*no: no OpenCL platform")),
                        output);
            } else {
                assertEquals(1, code, output);
                assertTrue(output.contains("backend opencl is not available here: no OpenCL platform"), output);
                assertFalse(output.contains("tokenizer:"), "it stops before training a tokenizer: " + output);
            }
        }
    }

    @Test
    void runningOutOfHeapIsOneLineNamingTheKnobs(@TempDir Path dir) throws Exception {
        List<String> command = childKiln();
        command.add(1, "-Xmx96m");
        command.addAll(List.of("train", "--data", corpus.toString(), "--out", dir.resolve("run").toString(),
                "--tokenizer", "char", "model.n_layer=8", "model.n_embd=2048", "model.n_head=8", "train.steps=1",
                "data.cache=" + dir.resolve("c")));
        Process process = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), err);
        assertEquals(1, process.exitValue(), err);
        List<String> lines = err.lines().filter(l -> !l.startsWith("WARNING")).toList();
        assertEquals(1, lines.size(), err);
        assertTrue(lines.getFirst().startsWith("kiln: error: out of memory") && lines.getFirst().contains("KILN_JAVA_OPTS")
                && lines.getFirst().contains("train.batch_size"), err);
    }

    @Test
    void sigtermDuringTrainingWritesAFinalCheckpoint(@TempDir Path dir) throws Exception {
        List<String> command = childKiln();
        command.addAll(List.of(args(List.of("train", "--data", corpus.toString(), "--out",
                dir.resolve("run").toString(), "train.steps=100000", "train.log_every=1", "train.eval_every=100000"),
                tiny(dir.resolve("c")))));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        StringBuilder output = new StringBuilder();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                output.append(line).append('\n');
                if (line.startsWith("step 5/")) {                            // SIGTERM, as a scheduler sends it
                    new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).start().waitFor();
                }
            }
        }
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), output.toString());
        assertTrue(output.toString().contains("interrupted"), output.toString());
        Path checkpoint;
        try (Stream<Path> list = Files.list(dir.resolve("run/checkpoints"))) {
            checkpoint = list.filter(p -> p.getFileName().toString().startsWith("step-")).findFirst().orElseThrow();
        }
        assertTrue(Files.isRegularFile(checkpoint.resolve("training_state.safetensors")), checkpoint.toString());
        Outcome resumed = kiln("train", "--resume", dir.resolve("run").toString(), "train.steps=8",
                "train.eval_every=8", "train.sample_tokens=0");
        assertEquals(0, resumed.code(), resumed.err());
    }

    /**
     * Token caches go to the user's cache directory ($XDG_CACHE_HOME/kiln, else ~/.cache/kiln), never beside --out;
     * kiln cache shows them and kiln cache clear deletes only the files Kiln writes there.
     */
    @Test
    void tokenCachesLiveInTheUsersCacheDirectoryAndKilnCacheClearsThem(@TempDir Path dir) throws IOException {
        assertEquals(Path.of("/x/kiln"), CacheDirectory.defaultLocation(Map.of("XDG_CACHE_HOME", "/x"), "/home/u"));
        assertEquals(Path.of("/home/u/.cache/kiln"), CacheDirectory.defaultLocation(Map.of("XDG_CACHE_HOME",
                "relative"), "/home/u"), "a relative XDG_CACHE_HOME is ignored, as the spec says");
        assertEquals(Path.of("/home/u/.cache/kiln"), CacheDirectory.defaultLocation(Map.of(), "/home/u"));

        List<String> options = new ArrayList<>(tiny(dir));
        options.removeIf(o -> o.startsWith("data.cache="));
        Path out = dir.resolve("home").resolve("x");
        Outcome train = kiln(args(List.of("train", "--data", corpus.toString(), "--out", out.toString(),
                "train.steps=2", "train.eval_every=2", "train.sample_tokens=0"), options));
        assertEquals(0, train.code(), train.err());
        assertFalse(Files.exists(out.getParent().resolve(".cache")), "nothing is cached beside --out");
        Path cache = CacheDirectory.defaultLocation();
        assertTrue(CacheDirectory.usage(cache).files() >= 2, "the tokenizer and the token stream are cached in "
                + cache);
        Outcome shown = kiln("cache");
        assertEquals(0, shown.code(), shown.err());
        assertTrue(shown.out().contains(cache.toAbsolutePath().toString()), shown.out());

        Path other = Files.createDirectories(dir.resolve("other-cache"));
        Files.writeString(other.resolve("tokens-0123abcd.bin"), "x".repeat(100));
        Files.writeString(other.resolve("tokenizer-0123abcd.json"), "{}");
        Files.createDirectories(other.resolve("rank-1"));
        Files.writeString(other.resolve("rank-1").resolve("tokens-89ab.bin"), "y");
        Files.writeString(other.resolve("notes.txt"), "mine");
        Outcome cleared = kiln("cache", "--dir", other.toString(), "clear");
        assertEquals(0, cleared.code(), cleared.err());
        assertTrue(cleared.out().contains("3 files, 103 B"), cleared.out());
        try (Stream<Path> left = Files.list(other)) {
            assertEquals(List.of(other.resolve("notes.txt")), left.toList(), "only Kiln's files are deleted");
        }
    }

    /** Changing one word works: every language model has defaults that train on the bundled corpus. */
    @Test
    void everyLanguageModelTrainsWithItsDefaults(@TempDir Path dir) {
        for (String model : List.of("lstm", "gpt")) {
            Outcome train = kiln("train", "--model", model, "--data", corpus.toString(), "--out",
                    dir.resolve(model).toString(), "train.steps=2", "train.eval_every=2", "train.eval_tokens=1024",
                    "train.sample_tokens=0", "tokenizer.vocab_size=300", "data.cache=" + dir.resolve("c"));
            assertEquals(0, train.code(), model + ": " + train.err());
        }
    }

    /** A vocabulary larger than the corpus can give is trained as far as it goes, and the run says so. */
    @Test
    void aVocabularyThatCannotBeReachedIsSaidSo(@TempDir Path dir) throws IOException {
        Path small = dir.resolve("small.txt");
        Files.writeString(small, Files.readString(corpus).substring(0, 3000));
        Outcome trained = kiln("tokenizer", "train", "--data", small.toString(), "--out",
                dir.resolve("t.json").toString(), "vocab_size=100000");
        assertEquals(0, trained.code(), trained.err());
        assertTrue(trained.out().contains("of the 100000 asked for: the corpus has no pair left to merge"),
                trained.out());
        Outcome huge = kiln("tokenizer", "train", "--data", small.toString(), "--out",
                dir.resolve("u.json").toString(), "vocab_size=1000000000");
        assertEquals(1, huge.code(), huge.out());
        assertTrue(huge.err().contains("above Kiln's limit"), huge.err());
    }

    /**
     * PEFT's workflow from the command line: a Hugging Face snapshot as the base and a PEFT adapter directory on it
     * (--adapter) for eval, generate and merge; the adapted model's loss is the merged checkpoint's and not the base's.
     */
    @Test
    void aHuggingFaceSnapshotTakesAPeftAdapter(@TempDir Path dir) throws IOException {
        Path snapshot = SharedData.fixtures().resolve("hf_gpt2_tiny");
        Path adapter = dir.resolve("adapter");
        Plugins plugins = Plugins.load(ModuleLayer.boot());
        try (Backend backend = plugins.backend("cpu", Options.defaults())) {
            LanguageModel model = HuggingFaceGpt2.load(backend, snapshot);
            LoraConfig lora = new LoraConfig(4, 8, 0f, List.of("c_attn", "c_proj", "c_fc"));
            lora.apply(model, new Generator(3));
            Random random = new Random(7);
            for (Tensor parameter : model.namedAdapterParameters().values()) {
                float[] values = new float[(int) parameter.numel()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (0.05 * random.nextGaussian());    // B non-zero: the adapter changes the model
                }
                parameter.copyFrom(values);
            }
            PeftAdapter.of(model, lora, snapshot.toString()).save(adapter, model);
        }
        Map<?, ?> expected = (Map<?, ?>) Json.parse(Files.readString(snapshot.resolve("expected.json")), "expected");
        Path text = dir.resolve("text.txt");
        Files.writeString(text, (String) expected.get("loss_text"));
        double base = evalLoss("eval", "--checkpoint", snapshot.toString(), "--data", text.toString(), "--json");
        double adapted = evalLoss("eval", "--checkpoint", snapshot.toString(), "--adapter", adapter.toString(),
                "--data", text.toString(), "--json");
        Path merged = dir.resolve("merged");
        Outcome merge = kiln("merge", "--checkpoint", snapshot.toString(), "--adapter", adapter.toString(), "--out",
                merged.toString());
        assertEquals(0, merge.code(), merge.err());
        double mergedLoss = evalLoss("eval", "--checkpoint", merged.toString(), "--data", text.toString(), "--json");
        assertEquals(mergedLoss, adapted, 1e-5 * mergedLoss, "the adapter on the base is the merged model");
        assertTrue(Math.abs(adapted - base) > 1e-3, "the adapter changes the model: " + base + " vs " + adapted);
        Outcome generated = kiln("generate", "--checkpoint", snapshot.toString(), "--adapter", adapter.toString(),
                "--prompt", "Hello", "--max-tokens", "5", "--temperature", "0");
        assertEquals(0, generated.code(), generated.err());
        Outcome notAnAdapter = kiln("eval", "--checkpoint", snapshot.toString(), "--adapter", dir.toString(),
                "--data", text.toString());
        assertEquals(1, notAnAdapter.code());
        assertTrue(notAnAdapter.err().contains("is not a PEFT adapter"), notAnAdapter.err());
    }

    private static double evalLoss(String... args) {
        Outcome evaluated = kiln(args);
        assertEquals(0, evaluated.code(), evaluated.err());
        return ((Number) ((Map<?, ?>) Json.parse(evaluated.out().strip(), "eval")).get("loss")).doubleValue();
    }
}
