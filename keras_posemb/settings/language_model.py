"""The language model's settings: `LanguageModelConfig`, `keras-posemb-lm`'s flags."""

from __future__ import annotations

import dataclasses
import math
import os
import typing

from keras_posemb import families
from keras_posemb._args import check_int, check_number
from keras_posemb._memory import check_fits
from keras_posemb.data import characters, corpora
from keras_posemb.errors import Setting, argument_error
from keras_posemb.numerics.angles import MAX_POSITION
from keras_posemb.runs.run import LANGUAGE_MODEL, RunKind
from keras_posemb.settings.run_settings import (
    RunSettings,
    check_output_dir,
    position_help,
    setting,
)

# What `keras_posemb.analysis.extrapolation` scores at the end of a run
# (its `FACTORS`, `TOKENS_PER_CALL`, `BLOCKWISE_FROM` and `BLOCK_SIZE`,
# which load Keras; a test keeps them equal): the validation loss at these
# multiples of the context, so many tokens at a time, in attention blocks
# beyond a length.
EVALUATION_FACTORS = (1, 2, 4, 8)
EVALUATION_TOKENS_PER_CALL = 32768
EVALUATION_BLOCKWISE_FROM, EVALUATION_BLOCK_SIZE = 1024, 256
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
    extrapolation: str = setting(
        ",".join(map(str, EVALUATION_FACTORS)),
        "multiples of --max-length at which the validation loss is scored at the end, "
        "comma-separated (such as 1,2,4,8,64,256)",
        same_on_resume=False,
    )

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
    def evaluation_factors(self) -> tuple[int, ...]:
        """`extrapolation` as ints, checked."""
        expected = "positive ints separated by commas, such as 1,2,4,8"
        if not isinstance(self.extrapolation, str):
            raise argument_error("extrapolation", self.extrapolation, expected)
        parts = self.extrapolation.split(",")
        if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
            raise argument_error("extrapolation", self.extrapolation, expected)
        return tuple(sorted({int(part) for part in parts}))

    @property
    def intervals(self) -> int:
        return self.steps // self.interval_steps

    def check_values(self) -> None:
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
        factor = max(self.evaluation_factors)
        if self.max_length * factor > MAX_POSITION:
            raise argument_error(
                "max_length", self.max_length, f"at most {MAX_POSITION // factor:,} (it is "
                f"evaluated at {factor}x, and the position layers encode at most "
                f"{MAX_POSITION:,} positions)",
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
        self._check_memory()
        check_output_dir(self.resolved_output_dir())

    def position_settings(self) -> families.PositionSettings:
        return families.PositionSettings(
            self.embed_dim, self.num_heads, self.max_length, bidirectional=False
        )

    def _check_memory(self):
        # Training keeps about 4 float32 (batch, heads, length, length)
        # tensors per layer for the backward pass; the evaluation scores
        # `TOKENS_PER_CALL` tokens at a time (attention weights and logits),
        # in blocks of keys beyond `BLOCKWISE_FROM`.
        length, heads = self.max_length, self.num_heads
        needed = 16 * self.num_layers * self.batch_size * heads * length**2
        check_fits("max_length", length, needed, f"attention over {length:,} tokens")
        factor = max(self.evaluation_factors)
        longest = factor * length
        windows = max(1, EVALUATION_TOKENS_PER_CALL // longest)
        keys = longest if longest <= EVALUATION_BLOCKWISE_FROM else EVALUATION_BLOCK_SIZE
        needed = 8 * windows * heads * longest * keys
        what = f"the evaluation at {factor}x: attention over {longest:,} tokens"
        check_fits("max_length", length, needed, what)
        if self.text_file is not None or self.download is not None:
            name = "text_file" if self.text_file is not None else "download"
            size = (
                os.path.getsize(self.text_file)
                if self.text_file is not None
                else corpora.CORPORA[self.download].size
            )  # Text, then 4 bytes per id, then windows.
            check_fits(name, getattr(self, name), 12 * size, f"{size:,} bytes of text and ids")
