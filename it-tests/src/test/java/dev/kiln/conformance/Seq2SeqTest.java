package dev.kiln.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.io.Json;
import dev.kiln.api.model.BeamDecoder;
import dev.kiln.api.model.BeamSearch;
import dev.kiln.api.model.EncodedSource;
import dev.kiln.api.model.EncoderDecoderModel;
import dev.kiln.api.model.ModelInputs;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.task.Batch;
import dev.kiln.api.task.BatchStream;
import dev.kiln.api.task.Task;
import dev.kiln.api.task.TaskData;
import dev.kiln.api.task.TaskProvider;
import dev.kiln.api.task.TextRecord;
import dev.kiln.api.tensor.GradMode;
import dev.kiln.api.tensor.Tensor;
import dev.kiln.api.tokenizer.Tokenizer;
import dev.kiln.api.tokenizer.TokenizerProvider;
import dev.kiln.trainer.ExperimentConfig;
import dev.kiln.trainer.Plugins;
import dev.kiln.trainer.Trainer;
import dev.kiln.trainer.TrainingListener;
import dev.kiln.trainer.TrainingResult;
import dev.kiln.trainer.data.PairBatches;
import dev.kiln.trainer.data.PairEncoding;
import dev.kiln.trainer.data.TextPair;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seq2seq path beyond PyTorch parity: cached decoding against recomputation, beam search against its own scores,
 * the paired-data formats and their errors, the teacher-forcing batch layout, and a short training run whose validation
 * loss falls.
 */
class Seq2SeqTest {
    private static final Backend BACKEND = Backends.registry().get("cpu").create(Options.of("threads", "2"));
    private static final int BOS = 1;
    private static final int EOS = 2;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static EncoderDecoderModel tinyModel(String positions, String normFirst) {
        return (EncoderDecoderModel) ModelParityTest.models().get("seq2seq").create(BACKEND, Options.of(
                "vocab_size", "23", "d_model", "16", "nhead", "2", "num_encoder_layers", "2", "num_decoder_layers", "2",
                "dim_feedforward", "32", "dropout", "0", "positions", positions, "norm_first", normFirst, "max_len", "64"),
                new dev.kiln.api.tensor.Generator(7));
    }

    private static final int[] SOURCE = {5, 9, 3, 17, 4, 8, 0, 0, 11, 12, 13, 0, 0, 0, 0, 0};
    private static final int[] SOURCE_LENGTHS = {6, 3};

    /** Step-by-step decoding through the caches gives the logits of recomputing the whole prefix each step. */
    @Test
    void cachedDecodingMatchesRecomputation() {
        for (String positions : new String[] {"none", "sinusoidal", "learned"}) {
            EncoderDecoderModel model = tinyModel(positions, positions.equals("learned") ? "true" : "false");
            model.eval();
            try (var noGrad = GradMode.noGrad()) {
                Tensor sourceIds = Tensor.ofInts(BACKEND, SOURCE, 2, 8);
                EncodedSource source = model.encode(sourceIds, SOURCE_LENGTHS);
                BeamDecoder decoder = model.decoder(source);
                List<int[]> prefix = new ArrayList<>(List.of(new int[] {BOS, BOS}));
                for (int step = 0; step < 20; step++) {                 // past the cache's first capacity
                    int[] last = prefix.get(prefix.size() - 1);
                    float[] cached = decoder.next(Tensor.ofInts(BACKEND, last, 2, 1)).toFloatArray();
                    int t = prefix.size();
                    int[] ids = new int[2 * t];
                    for (int i = 0; i < t; i++) {
                        ids[i] = prefix.get(i)[0];
                        ids[t + i] = prefix.get(i)[1];
                    }
                    Tensor logits = model.decode(source, Tensor.ofInts(BACKEND, ids, 2, t), null);     // (2, t, V)
                    float[] all = logits.toFloatArray();
                    int v = 23;
                    float[] recomputed = new float[2 * v];
                    System.arraycopy(all, (t - 1) * v, recomputed, 0, v);
                    System.arraycopy(all, (t + t - 1) * v, recomputed, v, v);
                    BackendConformanceKit.assertClose(positions + " step " + step, recomputed, cached, 1e-5, 1e-4);
                    prefix.add(new int[] {argmax(cached, 0, v), argmax(cached, v, v)});
                }
            }
        }
    }

    /** Greedy search through the cache picks the tokens a recomputing greedy loop picks. */
    @Test
    void greedySearchMatchesRecomputingGreedy() {
        EncoderDecoderModel model = tinyModel("sinusoidal", "false");
        Tensor sourceIds = Tensor.ofInts(BACKEND, SOURCE, 2, 8);
        List<BeamSearch.Hypothesis> greedy = new BeamSearch(1, 0, 12, BOS, EOS).decode(model, sourceIds, SOURCE_LENGTHS);
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            EncodedSource source = model.encode(sourceIds, SOURCE_LENGTHS);
            for (int row = 0; row < 2; row++) {
                EncodedSource one = new EncodedSource(source.memory().slice(0, row, row + 1).contiguous(),
                        new int[] {SOURCE_LENGTHS[row]});
                List<Integer> tokens = new ArrayList<>(List.of(BOS));
                while (tokens.size() <= 12) {
                    int[] ids = tokens.stream().mapToInt(Integer::intValue).toArray();
                    float[] logits = model.decode(one, Tensor.ofInts(BACKEND, ids, 1, ids.length), null).toFloatArray();
                    int next = argmax(logits, (ids.length - 1) * 23, 23);
                    if (next == EOS) {
                        break;
                    }
                    tokens.add(next);
                }
                int[] expected = tokens.subList(1, tokens.size()).stream().mapToInt(Integer::intValue).toArray();
                assertArrayEquals(expected, greedy.get(row).tokens(), "row " + row);
            }
        }
    }

    /** Beam search's reported log-probability is the teacher-forced one, and beam 1 is greedy. */
    @Test
    void beamSearchScoresAreTheModelsLogProbabilities() {
        EncoderDecoderModel model = tinyModel("sinusoidal", "true");
        Tensor sourceIds = Tensor.ofInts(BACKEND, SOURCE, 2, 8);
        List<BeamSearch.Hypothesis> beam = new BeamSearch(4, 0.6, 10, BOS, EOS).decode(model, sourceIds, SOURCE_LENGTHS);
        List<BeamSearch.Hypothesis> greedy = new BeamSearch(1, 0.6, 10, BOS, EOS).decode(model, sourceIds, SOURCE_LENGTHS);
        model.eval();
        try (var noGrad = GradMode.noGrad()) {
            EncodedSource source = model.encode(sourceIds, SOURCE_LENGTHS);
            for (int row = 0; row < 2; row++) {
                EncodedSource one = new EncodedSource(source.memory().slice(0, row, row + 1).contiguous(),
                        new int[] {SOURCE_LENGTHS[row]});
                for (BeamSearch.Hypothesis h : List.of(beam.get(row), greedy.get(row))) {
                    assertEquals(logProbability(model, one, h), h.logProbability(), 1e-4, "row " + row);
                }
            }
        }
        assertEquals(greedy.size(), new BeamSearch(1, 0, 10, BOS, EOS).decode(model, sourceIds, SOURCE_LENGTHS).size());
    }

    /** The teacher-forced log-probability of a hypothesis (its tokens, then EOS if it finished). */
    private static double logProbability(EncoderDecoderModel model, EncodedSource one, BeamSearch.Hypothesis h) {
        int[] tokens = h.tokens();
        int[] input = new int[tokens.length + 1];
        input[0] = BOS;
        System.arraycopy(tokens, 0, input, 1, tokens.length);
        float[] logits = model.decode(one, Tensor.ofInts(BACKEND, input, 1, input.length), null).toFloatArray();
        double total = 0;
        int steps = h.finished() ? input.length : tokens.length;
        for (int i = 0; i < steps; i++) {
            int label = i < tokens.length ? tokens[i] : EOS;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < 23; v++) {
                max = Math.max(max, logits[i * 23 + v]);
            }
            double sum = 0;
            for (int v = 0; v < 23; v++) {
                sum += Math.exp(logits[i * 23 + v] - max);
            }
            total += logits[i * 23 + label] - max - Math.log(sum);
        }
        return total;
    }

    private static int argmax(float[] x, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (x[offset + i] > x[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void pairsReadFromJsonlAndTsvWithErrorsNamingTheLine() {
        List<TextPair> pairs = TextPair.parse(List.of(
                new TextRecord("a.jsonl", 1, "{\"source\": \"12\", \"target\": \"twelve\"}"),
                new TextRecord("b.tsv", 3, "7\tseven")), "source", "target");
        assertEquals(new TextPair("12", "twelve", "a.jsonl:1"), pairs.get(0));
        assertEquals(new TextPair("7", "seven", "b.tsv:3"), pairs.get(1));
        KilnException tsv = assertThrows(KilnException.class, () -> TextPair.parse(
                new TextRecord("b.tsv", 9, "7\tseven\tsieben"), "source", "target"));
        assertTrue(tsv.getMessage().contains("b.tsv:9") && tsv.getMessage().contains("two tab-separated"),
                tsv.getMessage());
        KilnException json = assertThrows(KilnException.class, () -> TextPair.parse(
                new TextRecord("a.jsonl", 4, "{\"source\": \"12\"}"), "source", "target"));
        assertTrue(json.getMessage().contains("a.jsonl:4") && json.getMessage().contains("target"), json.getMessage());
        assertThrows(KilnException.class, () -> TextPair.parse(new TextRecord("a.jsonl", 5, "{\"source\": "), "source",
                "target"));
    }

    private static Tokenizer pairTokenizer() {
        TokenizerProvider bpe = dev.kiln.api.plugin.PluginRegistry.load("tokenizer", TokenizerProvider.class,
                ModuleLayer.boot()).get("bpe");
        return bpe.train("12\ttwelve\n7\tseven\n", Options.of("vocab_size", "260", "special", "<pad>,<s>,</s>"));
    }

    /** Decoder input = BOS + target, labels = target + EOS, padding PAD in the inputs and -100 in the labels. */
    @Test
    void teacherForcingBatchLayout() {
        Tokenizer tokenizer = pairTokenizer();
        PairEncoding encoding = PairEncoding.of(tokenizer, "<s>", "</s>", "<pad>", 16, 16);
        int[] longSource = {40, 41, 42};
        int[] shortSource = {43};
        Batch batch = PairBatches.build(BACKEND, List.of(longSource, shortSource), List.of(new int[] {50},
                new int[] {51, 52, 53}), encoding);
        int pad = encoding.pad();
        int bos = encoding.bos();
        int eos = encoding.eos();
        assertArrayEquals(new int[] {40, 41, 42, 43, pad, pad},
                batch.inputs().tensor(ModelInputs.SOURCE_IDS).toIntArray());
        assertArrayEquals(new int[] {bos, 50, pad, pad, bos, 51, 52, 53},
                batch.inputs().tensor(ModelInputs.TARGET_IDS).toIntArray());
        assertArrayEquals(new int[] {50, eos, -100, -100, 51, 52, 53, eos}, batch.targets().toIntArray());
        assertArrayEquals(new int[] {3, 1}, batch.inputs().lengths(ModelInputs.SOURCE_LENGTHS));
        assertArrayEquals(new int[] {2, 4}, batch.inputs().lengths(ModelInputs.TARGET_LENGTHS));
        assertEquals(6, batch.countedTargets());
        KilnException missing = assertThrows(KilnException.class, () -> PairEncoding.of(tokenizer, "<bos>", "</s>",
                "<pad>", 16, 16));
        assertTrue(missing.getMessage().contains("'<bos>'") && missing.getMessage().contains("tokenizer.special"),
                missing.getMessage());
    }

    /** The task's batches come back in the same order after a seek (exact resume), and each row is a real pair. */
    @Test
    void batchStreamSeeksExactly() {
        Tokenizer tokenizer = pairTokenizer();
        List<TextRecord> records = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            records.add(new TextRecord("p.tsv", i + 1, i + "\t" + "x".repeat(1 + i % 7)));
        }
        TaskData data = new TaskData() {
            @Override
            public String name() {
                return "pairs";
            }

            @Override
            public Tokenizer tokenizer() {
                return tokenizer;
            }

            @Override
            public List<TextRecord> records(dev.kiln.api.task.Split split) {
                return split == dev.kiln.api.task.Split.TRAIN ? records.subList(0, 50) : records.subList(50, 60);
            }

            @Override
            public dev.kiln.api.task.TokenSequence tokens(dev.kiln.api.task.Split split) {
                throw new AssertionError("the seq2seq task never asks for the token stream");
            }
        };
        TaskProvider provider = dev.kiln.api.plugin.PluginRegistry.load("task", TaskProvider.class, ModuleLayer.boot())
                .get("seq2seq");
        Task task = provider.create(data, Options.defaults());
        BatchStream first = task.trainBatches(4, 16, 3, 0, 1);
        List<int[]> seen = new ArrayList<>();
        for (int i = 0; i < 30; i++) {                                   // past one epoch of 12 batches
            seen.add(first.next(BACKEND).inputs().tensor(ModelInputs.SOURCE_IDS).toIntArray());
        }
        BatchStream resumed = task.trainBatches(4, 16, 3, 0, 1);
        resumed.seek(17);
        for (int i = 17; i < 30; i++) {
            assertArrayEquals(seen.get(i), resumed.next(BACKEND).inputs().tensor(ModelInputs.SOURCE_IDS).toIntArray(),
                    "batch " + i);
        }
        KilnException unknown = assertThrows(KilnException.class, () -> provider.create(data,
                Options.of("beam", "4")));
        assertTrue(unknown.getMessage().contains("beam"), unknown.getMessage());
    }

    /** A short run on digits → words lowers the validation loss and raises BLEU, and writes both to the metrics. */
    @Test
    @Timeout(240)
    void shortTrainingLowersValidationLoss(@TempDir Path dir) throws IOException {
        StringBuilder pairs = new StringBuilder();
        String[] words = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
        java.util.Random random = new java.util.Random(5);
        for (int i = 0; i < 1200; i++) {
            int n = random.nextInt(1000);
            String digits = Integer.toString(n);
            StringBuilder target = new StringBuilder();
            for (char c : digits.toCharArray()) {
                target.append(target.isEmpty() ? "" : " ").append(words[c - '0']);
            }
            pairs.append(digits).append('\t').append(target).append('\n');
        }
        Path data = dir.resolve("pairs.tsv");
        Files.writeString(data, pairs.toString(), StandardCharsets.UTF_8);
        ExperimentConfig config = ExperimentConfig.defaults().with(Map.ofEntries(
                Map.entry("model.id", "seq2seq"), Map.entry("model.d_model", "32"), Map.entry("model.nhead", "2"),
                Map.entry("model.num_encoder_layers", "1"), Map.entry("model.num_decoder_layers", "1"),
                Map.entry("model.dim_feedforward", "64"), Map.entry("model.dropout", "0"),
                Map.entry("model.positions", "sinusoidal"), Map.entry("model.max_len", "32"),
                Map.entry("tokenizer.vocab_size", "280"), Map.entry("tokenizer.special", "<pad>,<s>,</s>"),
                Map.entry("task.id", "seq2seq"), Map.entry("task.eval_decode", "50"), Map.entry("backend.threads", "2"),
                Map.entry("data.path", data.toString()), Map.entry("data.cache", dir.resolve("cache").toString()),
                Map.entry("train.steps", "150"), Map.entry("train.batch_size", "16"), Map.entry("train.context", "16"),
                Map.entry("train.eval_every", "50"), Map.entry("train.warmup", "10"), Map.entry("train.lr", "3e-3"),
                Map.entry("train.sample_tokens", "0")));
        TrainingResult result = new Trainer(Plugins.load(ModuleLayer.boot()), new TrainingListener() { })
                .train(config, null, dir.resolve("run"));
        List<Map<?, ?>> evals = TrainerTest.metrics(dir.resolve("run"), "eval");
        double first = ((Number) evals.get(0).get("val_loss")).doubleValue();
        double last = ((Number) evals.get(evals.size() - 1).get("val_loss")).doubleValue();
        assertTrue(last < 0.8 * first, "validation loss " + first + " → " + last);
        assertTrue(((Number) evals.get(evals.size() - 1).get("val_bleu")).doubleValue()
                > ((Number) evals.get(0).get("val_bleu")).doubleValue(), evals.toString());
        assertEquals(150, result.steps());
        assertTrue(Json.write(evals.get(0)).contains("val_chrf"), evals.get(0).toString());
    }

    @Test
    void anEncoderDecoderRefusesADecoderOnlyForward() {
        KilnException e = assertThrows(KilnException.class, () -> tinyModel("none", "false")
                .forward(Tensor.ofInts(BACKEND, new int[] {1}, 1, 1)));
        assertTrue(e.getMessage().contains("seq2seq task"), e.getMessage());
    }

    /** The example's shipped pairs are exactly what its generator writes (run as a single-file Java program). */
    @Test
    @Timeout(120)
    void theExamplePairsAreWhatTheGeneratorWrites(@TempDir Path dir) throws IOException, InterruptedException {
        Path example = Path.of("../examples/numbers-to-words");
        Path written = dir.resolve("pairs.tsv");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, example.resolve("NumbersToWords.java").toString(), written.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), output);
        assertArrayEquals(Files.readAllBytes(example.resolve("pairs.tsv")), Files.readAllBytes(written),
                "examples/numbers-to-words/pairs.tsv is stale: regenerate it with NumbersToWords.java");
    }
}
