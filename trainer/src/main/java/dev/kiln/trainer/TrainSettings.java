package dev.kiln.trainer;

import dev.kiln.api.ConfigException;
import dev.kiln.api.KilnException;
import dev.kiln.api.nn.LoraConfig;
import dev.kiln.api.optim.Adam;
import dev.kiln.api.optim.LrSchedule;
import dev.kiln.api.optim.Optimizer;
import dev.kiln.api.optim.ParamGroup;
import dev.kiln.api.optim.Sgd;
import dev.kiln.api.plugin.Options;
import dev.kiln.api.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** The {@code train.*} section, parsed and checked; {@link ExperimentConfig} documents each key. */
public record TrainSettings(int steps, int batchSize, int context, int gradAccum, double lr, double minLr, int warmup,
                            String schedule, String optimizer, double weightDecay, double beta1, double beta2,
                            double momentum, double gradClip,
                            int evalEvery, int evalTokens, int keep, long seed, double timeBudgetSeconds, int patience,
                            int maxBadSteps, int logEvery, int sampleTokens, String samplePrompt, String initFrom,
                            LoraConfig lora) {
    public TrainSettings {
        require(steps >= 1, "train.steps must be at least 1, got " + steps);
        require(batchSize >= 1, "train.batch_size must be at least 1, got " + batchSize);
        require(context >= 1, "train.context must be at least 1, got " + context);
        require(gradAccum >= 1, "train.grad_accum must be at least 1, got " + gradAccum);
        require(lr > 0 && Double.isFinite(lr), "train.lr must be positive, got " + lr);
        require(minLr >= 0 && minLr <= lr, "train.min_lr must be between 0 and train.lr (" + lr + "), got " + minLr);
        require(warmup >= 0, "train.warmup must be at least 0, got " + warmup);
        require(schedule.equals("cosine") || schedule.equals("constant"),
                "train.schedule must be cosine or constant, got " + schedule);
        require(OPTIMIZERS.contains(optimizer), "train.optimizer must be one of " + OPTIMIZERS + ", got " + optimizer);
        require(weightDecay >= 0, "train.weight_decay must be at least 0, got " + weightDecay);
        require(momentum >= 0 && momentum < 1, "train.momentum must be in [0, 1), got " + momentum);
        require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                "train.beta1 and train.beta2 must be in [0, 1), got " + beta1 + " and " + beta2);
        require(gradClip >= 0, "train.grad_clip must be at least 0 (0: off), got " + gradClip);
        require(evalEvery >= 1, "train.eval_every must be at least 1, got " + evalEvery);
        require(evalTokens >= 0, "train.eval_tokens must be at least 0 (0: all), got " + evalTokens);
        require(keep >= 1, "train.keep must be at least 1, got " + keep);
        require(timeBudgetSeconds >= 0, "train.time_budget must be at least 0 (0: none), got " + timeBudgetSeconds);
        require(patience >= 0, "train.patience must be at least 0 (0: never stop early), got " + patience);
        require(maxBadSteps >= 1, "train.max_bad_steps must be at least 1, got " + maxBadSteps);
        require(logEvery >= 1, "train.log_every must be at least 1, got " + logEvery);
        require(sampleTokens >= 0, "train.sample_tokens must be at least 0, got " + sampleTokens);
    }

    /** The optimizers train.optimizer names, and the train keys only some of them use. */
    static final List<String> OPTIMIZERS = List.of("adamw", "adam", "sgd");

    static TrainSettings from(Options o) {
        try {
            return parse(o);
        } catch (NumberFormatException e) {
            throw new ConfigException("train: option seed=" + o.string("seed", "") + " is not a whole number");
        } catch (KilnException e) {
            throw e.getMessage().startsWith("option ") ? new ConfigException("train: " + e.getMessage()) : e;
        }
    }

    private static TrainSettings parse(Options o) {
        String optimizer = o.string("optimizer", "adamw").trim();
        boolean adam = optimizer.equals("adam") || optimizer.equals("adamw");
        for (String key : adam ? List.of("momentum") : List.of("beta1", "beta2")) {
            if (!o.string(key, "").isBlank()) {
                throw new ConfigException("train." + key + " is not an option of train.optimizer=" + optimizer + " ("
                        + optimizer + " takes " + (adam ? "lr, beta1, beta2, weight_decay" : "lr, momentum, weight_decay")
                        + ")");
            }
        }
        double beta2Default = optimizer.equals("adam") ? 0.999 : 0.99;
        return new TrainSettings(o.intOption("steps"), o.intOption("batch_size"), o.intOption("context"),
                o.intOption("grad_accum"), o.doubleOption("lr", 0), o.doubleOption("min_lr", 0), o.intOption("warmup"),
                o.string("schedule", ""), optimizer, o.doubleOption("weight_decay", 0), orDefault(o, "beta1", 0.9),
                orDefault(o, "beta2", beta2Default), orDefault(o, "momentum", 0), o.doubleOption("grad_clip", 0),
                o.intOption("eval_every"), o.intOption("eval_tokens"), o.intOption("keep"),
                Long.parseLong(o.string("seed", "0").trim()), o.doubleOption("time_budget", 0), o.intOption("patience"),
                o.intOption("max_bad_steps"), o.intOption("log_every"), o.intOption("sample_tokens"),
                o.string("sample_prompt", ""), o.string("init_from", ""), lora(o));
    }

    /** train.lora.*: null when lora.r is 0 (full fine-tuning). */
    private static LoraConfig lora(Options o) {
        int rank = o.intOption("lora.r", 0);
        if (rank == 0) {
            return null;
        }
        List<String> targets = Arrays.stream(o.string("lora.target_modules", "").split(","))
                .map(String::trim).filter(t -> !t.isEmpty()).toList();
        if (targets.isEmpty()) {
            throw new ConfigException("train.lora.target_modules is empty; name the projections LoRA adapts (for gpt: "
                    + "c_attn,c_proj,c_fc; for lstm: weight_ih_l0,weight_hh_l0,…; for seq2seq: in_proj_weight,"
                    + "linear1,linear2,out_proj)");
        }
        return new LoraConfig(rank, o.doubleOption("lora.alpha", 16), (float) o.doubleOption("lora.dropout", 0),
                targets);
    }

    private static double orDefault(Options o, String key, double fallback) {
        return o.string(key, "").isBlank() ? fallback : o.doubleOption(key, fallback);
    }

    /**
     * The optimizer train.optimizer names over these parameters: weight decay on matrices only (none on biases, norms
     * and other 1-D tensors), decoupled for adamw, an L2 penalty for adam and sgd, as PyTorch's optimizers apply it.
     */
    public Optimizer createOptimizer(Map<String, Tensor> parameters) {
        List<ParamGroup> groups = ParamGroup.decayMatricesOnly(parameters, weightDecay);
        return switch (optimizer) {
            case "adamw" -> new Adam(groups, lr, beta1, beta2, ADAM_EPS, true);
            case "adam" -> new Adam(groups, lr, beta1, beta2, ADAM_EPS, false);
            default -> new Sgd(groups, lr, momentum);
        };
    }

    private static final double ADAM_EPS = 1e-8;

    /** The learning rate for each step: linear warmup then cosine to min_lr at the last step, or constant. */
    public LrSchedule lrSchedule() {
        if (schedule.equals("constant")) {
            return warmup == 0 ? LrSchedule.constant(lr) : LrSchedule.linearWarmup(lr, warmup);
        }
        return LrSchedule.warmupCosine(lr, minLr, Math.min(warmup, steps - 1), steps);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new ConfigException(message);
        }
    }
}
