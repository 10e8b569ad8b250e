"""Trains a causal language model on a text: what `keras-posemb-lm` runs.

The same run directory and guarantees as the classifier's trainer
(`keras_posemb.training.train`): every setting checked before the text is
read, a checkpoint per evaluation interval (a killed run resumes exactly),
the best validation loss kept, TensorBoard logs (loss, perplexity, learning
rate, position summaries), plots, and at the end the validation loss at 1x,
2x, 4x and 8x the training context (or the multiples `extrapolation`
names) in `metrics.json` (`extrapolation`).
The input pipeline is NumPy (`data.characters`): no TensorFlow is needed
to train, only for TensorBoard's files.

The defaults are nanoGPT's CPU recipe for Tiny Shakespeare (4 layers, 4
heads, width 128, context 64, batch 12, 2,000 steps, AdamW with beta2 0.99,
weight decay 0.1 on matrices, gradient norm clipped at 1, 100 warmup steps
and a cosine decay from 1e-3 to 1e-4, no dropout).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Sequence

import keras
import numpy as np

from keras_posemb.analysis import extrapolation
from keras_posemb.data import characters, corpora
from keras_posemb.models.causal_lm import build_causal_lm
from keras_posemb.settings.language_model import LanguageModelConfig
from keras_posemb.training.schedule import adamw_without_decay_on_vectors, warmup_cosine
from keras_posemb.training.session import TrainingSession, report_written, run_session

# Held-out windows per batch while training (the loss does not depend on it).
VALIDATION_BATCH = 64


def load_text(config: LanguageModelConfig) -> characters.TextSplits:
    text_file = config.text_file
    if config.download is not None:
        text_file = corpora.fetch(config.download)
    return characters.load_text_splits(
        text_file,
        config.validation_file,
        config.level,
        config.validation_fraction,
        config.encoding,
    )


def build_model(config: LanguageModelConfig, vocab_size: int):
    return build_causal_lm(
        vocab_size,
        config.max_length,
        position=config.position,
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        ff_dim=config.ff_dim,
        num_layers=config.num_layers,
        dropout=config.dropout,
    )


def learning_rate_schedule(config: LanguageModelConfig):
    """Linear warmup to `learning_rate`, then cosine decay to `min_learning_rate`."""
    return warmup_cosine(
        config.learning_rate,
        config.steps,
        config.resolved_warmup_steps,
        final=config.min_learning_rate,
    )


def make_optimizer(config: LanguageModelConfig, model) -> keras.optimizers.Optimizer:
    return adamw_without_decay_on_vectors(
        model,
        learning_rate_schedule(config),
        config.weight_decay,
        beta_2=0.99,  # nanoGPT's: a small model on few tokens per step.
        global_clipnorm=config.clip_norm or None,
    )


def training_batches(
    config: LanguageModelConfig, ids: np.ndarray, first_interval: int, first_step: int = 0
):
    """Batches from step `first_step` of interval `first_interval` to the end,
    each interval's drawn from `(seed, interval)`: a resumed run sees the
    same batches."""
    for interval in range(first_interval, config.intervals):
        batches = characters.random_windows(
            ids,
            config.max_length,
            config.batch_size,
            config.interval_steps,
            (config.seed, interval),
        )
        yield from itertools.islice(batches, first_step if interval == first_interval else 0, None)


class Perplexity(keras.callbacks.Callback):
    """Adds `perplexity` and `val_perplexity` (exp of the losses) to the logs
    of each interval, for the callbacks after it (TensorBoard, checkpoints)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for name in ("loss", "val_loss"):
            if name in logs:
                logs[name.replace("loss", "perplexity")] = math.exp(min(float(logs[name]), 700))


def train_language_model(
    config: LanguageModelConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
) -> dict:
    """Trains, evaluates and writes the run directory; returns the metrics.

    Rerunning the same config into the same directory after a kill resumes
    from the last completed interval; rerunning a finished run returns its
    metrics and changes nothing; a config with other settings is refused.
    """
    return run_session(config, extra_callbacks, LanguageModelSession)


class LanguageModelSession(TrainingSession):
    """One call of `train_language_model`: the causal model on random windows,
    evaluated every `interval_steps` steps (its "epochs")."""

    unit, monitor, higher_is_better, curve_metric = "steps", "val_loss", False, "perplexity"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @staticmethod
    def load(config, log):
        return load_text(config)

    def prepare(self):
        config, text = self.config, self.data
        self.log(
            f"Text {config.text_source}: "
            f"{len(text.train):,} training and {len(text.validation):,} "
            f"validation tokens, {text.vocabulary.size} {config.level} ids."
        )
        self.steps_per_epoch, self.epochs = config.interval_steps, config.intervals

    def build_model(self):
        return build_model(self.config, self.data.vocabulary.size)

    def make_optimizer(self):
        return make_optimizer(self.config, self.model)

    def callbacks_before(self):
        return [Perplexity()]

    def batches(self, interval, step):
        return training_batches(self.config, self.data.train, interval, step)

    def validation_arguments(self):
        inputs, targets, _ = characters.windows(self.data.validation, self.config.max_length)
        return {"validation_data": (inputs, targets), "validation_batch_size": VALIDATION_BATCH}

    def save_task_files(self):
        self.run.write_tokens(self.data.vocabulary.to_json())

    @staticmethod
    def finished_summary(metrics):
        return f"validation loss {metrics['val_loss']:.4f}"

    @staticmethod
    def report(config, run, metrics, log):
        _report(run, metrics, log)

    def evaluate(self) -> dict:
        config, text, state = self.config, self.data, self.checkpoints.state
        start = time.perf_counter()
        losses = extrapolation.extrapolation_losses(
            self.model, text.validation, config.max_length, config.evaluation_factors
        )
        seconds = self.checkpoints.train_seconds
        tokens = state["epoch"] * config.interval_steps * config.batch_size * config.max_length
        best = state["best"]
        return {
            "text": text.name,
            "position": config.position,
            "backend": keras.backend.backend(),
            "level": config.level,
            "vocabulary_size": text.vocabulary.size,
            "train_tokens": len(text.train),
            "validation_tokens": len(text.validation),
            "val_loss": best["val_loss"],
            "val_perplexity": math.exp(best["val_loss"]),
            "best_step": best["epoch"] * config.interval_steps,
            "steps": config.steps,
            "extrapolation": losses,
            "extrapolation_skipped": {
                factor: extrapolation.why_unscored(
                    self.model, text.validation, int(factor) * config.max_length
                )
                for factor, loss in losses.items()
                if loss is None
            },
            "validation_curve": [
                {
                    "step": entry["epoch"] * config.interval_steps,
                    "loss": entry.get("loss"),
                    "val_loss": entry.get("val_loss"),
                }
                for entry in state["history"]
            ],  # fmt: skip
            "train_seconds": seconds,
            "tokens_per_second": tokens / seconds if seconds else None,
            "evaluation_seconds": time.perf_counter() - start,
            "seed": config.seed,
            "config": dataclasses.asdict(config),
        }


def _report(run, metrics, log):
    skipped = metrics.get("extrapolation_skipped", {})

    def shown(factor, loss):
        return f"n/a ({skipped.get(factor, 'not scored')})" if loss is None else f"{loss:.4f}"

    losses = ", ".join(f"{f}x {shown(f, v)}" for f, v in metrics["extrapolation"].items())
    log(
        f"\nKept step {metrics['best_step']} of {metrics['steps']}, the best on validation: "
        f"loss {metrics['val_loss']:.4f} (perplexity {metrics['val_perplexity']:.2f}).\n"
        f"Validation loss by context length (non-overlapping windows): {losses}.\n"
        f"{metrics['train_seconds']:.1f} s of training, {metrics['tokens_per_second'] or 0:,.0f} "
        "tokens/s."
    )
    report_written(run, log, f'Generate text: keras-posemb-generate {run.directory} "prompt"')
