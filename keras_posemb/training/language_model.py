"""Trains a causal language model on a text: what `keras-posemb-lm` runs.

The same run directory and guarantees as the classifier's trainer
(`keras_posemb.training.train`): every setting checked before the text is
read, a checkpoint per evaluation interval (a killed run resumes exactly),
the best validation loss kept, TensorBoard logs (loss, perplexity, learning
rate, position summaries), plots, and at the end the validation loss at 1x,
2x, 4x and 8x the training context in `metrics.json` (`extrapolation`).
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
import os
import time
import typing
from collections.abc import Sequence

import keras
import numpy as np

from keras_posemb import families
from keras_posemb._args import check_int, check_number
from keras_posemb._memory import check_fits
from keras_posemb.analysis import extrapolation
from keras_posemb.data import characters, corpora
from keras_posemb.errors import Setting, argument_error
from keras_posemb.layers._angles import MAX_POSITION
from keras_posemb.models.causal_lm import build_causal_lm
from keras_posemb.runs.run import LANGUAGE_MODEL, RunKind
from keras_posemb.training.config import RunSettings, check_output_dir, position_help, setting
from keras_posemb.training.schedule import adamw_without_decay_on_vectors, warmup_cosine
from keras_posemb.training.session import TrainingSession, report_written, run_session

# Held-out windows per batch while training (the loss does not depend on it).
VALIDATION_BATCH = 64
# nanoGPT's eval_interval for Tiny Shakespeare: what the default interval is near.
EVAL_INTERVAL = 250


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def nearest_divisor(n: int, target: int) -> int:
    """The divisor of `n` nearest `target` by ratio (the larger on a tie)."""
    return min(reversed(divisors(n)), key=lambda d: abs(math.log(d / target)))


@dataclasses.dataclass
class LanguageModelConfig(RunSettings):
    """Every setting of a language-model run; `keras-posemb-lm`'s flags are these."""

    DATA_SETTING: typing.ClassVar[str] = "text_file"
    KIND: typing.ClassVar[RunKind] = LANGUAGE_MODEL

    text_file: str | None = setting(
        None,
        "the training text, any UTF-8 (see --encoding) text file (default: text made from the "
        "built-in data set's sentences, or --download)",
    )
    download: str | None = setting(
        None,
        lambda: (
            "train on a text downloaded once into Keras' cache instead of --text-file: "
            + "; ".join(f"{name}: {corpus.description}" for name, corpus in corpora.CORPORA.items())
        ),
    )
    validation_file: str | None = setting(
        None, "held-out text (default: the last --validation-fraction of the training text)"
    )
    validation_fraction: float = setting(
        0.1, "share of the text held out for validation when no --validation-file is given"
    )
    level: str = setting("character", "tokens: characters or UTF-8 bytes", characters.LEVELS)
    encoding: str = setting("utf-8", "text encoding of the files")
    position: str = setting(
        "rotary",
        lambda: position_help(include_variants=True),
        lambda: families.names(include_variants=True),
    )
    output_dir: str | None = setting(
        None, "where the run's files go (default: runs/lm_<text>_<position>)", same_on_resume=False
    )
    steps: int = setting(2000, "optimizer steps")
    eval_interval: int | None = setting(
        None,
        f"steps between validation losses and checkpoints, a divisor of --steps (default: the "
        f"divisor of --steps nearest {EVAL_INTERVAL})",
    )
    batch_size: int = setting(12, "windows per batch")
    max_length: int = setting(64, "the training context, in tokens")
    learning_rate: float = setting(1e-3, "peak learning rate (AdamW)")
    min_learning_rate: float = setting(1e-4, "learning rate at the end of the cosine decay")
    warmup_steps: int | None = setting(
        None, "steps of linear warmup (default: 100, or a tenth of --steps if that is fewer)"
    )
    weight_decay: float = setting(0.1, "AdamW weight decay (matrices only)")
    clip_norm: float = setting(1.0, "clip the gradients' global norm to this (0: no clipping)")
    embed_dim: int = setting(128, "model width")
    ff_dim: int | None = setting(None, "feed-forward width (default: 4 x --embed-dim)")
    num_layers: int = setting(4, "decoder blocks")
    dropout: float = setting(0.0, "dropout rate")

    def resolved_output_dir(self) -> str:
        if self.output_dir == "":
            raise argument_error("output_dir", "", "a path (or None for the default)")
        return self.output_dir or os.path.join("runs", f"lm_{self.text_name}_{self.position}")

    @property
    def text_source(self) -> str:
        if self.text_file is not None:
            return repr(self.text_file)
        return f"{self.download} (downloaded)" if self.download else "built in"

    @property
    def text_name(self) -> str:
        """`builtin`, the downloaded corpus' name, or the text file's stem."""
        if self.text_file is not None:
            return os.path.basename(self.text_file).split(".")[0]
        return self.download or "builtin"

    @property
    def resolved_warmup_steps(self) -> int:
        return min(100, self.steps // 10) if self.warmup_steps is None else self.warmup_steps

    @property
    def interval_steps(self) -> int:
        """Steps per interval: `eval_interval`, or by default the divisor of
        `steps` nearest `EVAL_INTERVAL`."""
        if self.eval_interval is not None:
            return self.eval_interval
        return nearest_divisor(self.steps, EVAL_INTERVAL)

    @property
    def intervals(self) -> int:
        return self.steps // self.interval_steps

    def validate(self) -> None:
        """Checks every setting, before the text is read.

        Raises:
            ArgumentError: naming the setting, the value and what is expected.
        """
        self.check_fields()
        for name in ("steps", "batch_size", "max_length", "embed_dim"):
            check_int(name, getattr(self, name))
        check_int("num_layers", self.num_layers)
        if self.ff_dim is not None:
            check_int("ff_dim", self.ff_dim)
        if self.eval_interval is not None:
            check_int("eval_interval", self.eval_interval)
            if self.steps % self.eval_interval:
                near = sorted(divisors(self.steps), key=lambda d: abs(d - self.eval_interval))[:2]
                raise argument_error(
                    "eval_interval", self.eval_interval, "a divisor of ",
                    Setting("steps", self.steps), f", such as {' or '.join(map(str, sorted(near)))}",
                )  # fmt: skip
        if self.max_length * max(extrapolation.FACTORS) > MAX_POSITION:
            raise argument_error(
                "max_length", self.max_length, f"at most {MAX_POSITION // 8:,} (it is evaluated "
                f"at 8x, and the position layers encode at most {MAX_POSITION:,} positions)",
            )  # fmt: skip
        if self.warmup_steps is not None:
            check_int("warmup_steps", self.warmup_steps, minimum=0, maximum=self.steps - 1)
        self.check_shared()
        check_number("validation_fraction", self.validation_fraction, 0, 1, True, True)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("min_learning_rate", self.min_learning_rate, 0, self.learning_rate)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("clip_norm", self.clip_norm, low=0)
        check_number("dropout", self.dropout, 0, 1, high_open=True)
        self.check_encoding()
        if self.download is not None:
            corpora.check_name(self.download)
        self.check_applies(("download",), self.text_file is None, "without ", Setting("text_file"))
        self.check_applies(("encoding",), self.text_file is not None, "with ", Setting("text_file"))
        self.check_applies(
            ("validation_file",), self.text_file is not None or self.download is not None,
            "with ", Setting("text_file"), " or ", Setting("download"),
        )  # fmt: skip
        self.check_applies(
            ("validation_fraction",), self.validation_file is None,
            "without ", Setting("validation_file"), " (the text is split then)",
        )  # fmt: skip
        for name in ("text_file", "validation_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise argument_error(name, path, "an existing text file")
        settings = families.PositionSettings(
            self.embed_dim, self.num_heads, self.max_length, bidirectional=False
        )
        families.get(self.position).check(settings)
        self._check_memory()
        check_output_dir(self.resolved_output_dir())

    def _check_memory(self):
        # Training keeps about 4 float32 (batch, heads, length, length)
        # tensors per layer for the backward pass; the 8x evaluation scores
        # `TOKENS_PER_CALL` tokens at a time (attention weights and logits).
        length, heads = self.max_length, self.num_heads
        needed = 16 * self.num_layers * self.batch_size * heads * length**2
        check_fits("max_length", length, needed, f"attention over {length:,} tokens")
        longest = 8 * length
        windows = max(1, extrapolation.TOKENS_PER_CALL // longest)
        needed = 8 * windows * heads * longest**2
        what = f"the evaluation at 8x: attention over {longest:,} tokens"
        check_fits("max_length", length, needed, what)
        if self.text_file is not None or self.download is not None:
            name = "text_file" if self.text_file is not None else "download"
            size = (
                os.path.getsize(self.text_file)
                if self.text_file is not None
                else corpora.CORPORA[self.download].size
            )  # Text, then 4 bytes per id, then windows.
            check_fits(name, getattr(self, name), 12 * size, f"{size:,} bytes of text and ids")


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
        losses = extrapolation.extrapolation_losses(self.model, text.validation, config.max_length)
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
