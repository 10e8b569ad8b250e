"""The text classifier's settings: `TrainConfig`, `keras-posemb-train`'s flags."""

from __future__ import annotations

import dataclasses
import os
import typing

from keras_posemb import _backend, families
from keras_posemb import data as data_lib
from keras_posemb._args import check_choice, check_int, check_number
from keras_posemb._memory import check_fits
from keras_posemb.data.order import MIN_WORDS, check_split_size
from keras_posemb.errors import Setting, argument_error
from keras_posemb.numerics.angles import MAX_POSITION
from keras_posemb.runs.run import TEXT_CLASSIFIER, RunKind
from keras_posemb.settings.run_settings import (
    RunSettings,
    check_output_dir,
    position_help,
    setting,
)

# Peak learning rates. On the built-in data set the model first sits at
# chance while it finds how word order decides the label; 3e-3 leaves that
# plateau in well under half the steps 1e-3 takes (docs/results.md, the built-in data set).
# On real text 1e-3 is the measured choice (docs/results.md, Real data).
LEARNING_RATE, BUILT_IN_LEARNING_RATE = 1e-3, 3e-3

# Memory one generated sentence takes in the data set and its pipeline
# (Python string, the generator's set of seen sentences, token ids), besides
# 16 bytes per word; measured about 300 at the default settings.
BYTES_PER_SENTENCE = 400

# `SequencePooling`'s modes (`keras_posemb.modeling.sequence_pooling.MODES`,
# which loads Keras); a test keeps the two equal.
POOLING_MODES = ("mean", "max", "first")
STRATEGIES = ("default", "mirrored")


def check_strategy(name: str) -> str:
    """`name`, if the backend Keras uses can run that strategy."""
    check_choice("strategy", name, STRATEGIES)
    backend = _backend.name()
    if name == "mirrored" and backend not in ("tensorflow", "jax"):
        raise argument_error(
            "strategy",
            name,
            f"'default' under the {backend} backend (mirrored needs tensorflow or jax)",
        )
    return name


@dataclasses.dataclass
class TrainConfig(RunSettings):
    """Every setting of a training run; `keras-posemb-train`'s flags are these."""

    KIND: typing.ClassVar[RunKind] = TEXT_CLASSIFIER

    dataset: str = setting(
        "order",
        "'order' (built in), a tensorflow-datasets name (imdb_reviews, ag_news_subset, "
        "glue/sst2, ...), a .tsv/.csv file with a header row, or a directory with one "
        "subdirectory of .txt files per class",
    )
    validation_file: str | None = setting(
        None, "validation data for a local data set (default: a seeded 10%% of the training file)"
    )
    test_file: str | None = setting(
        None, "test data for a local data set (default: a seeded 10%% of the training file)"
    )
    text_column: str | None = setting(
        None, "text column of a .tsv/.csv file (default: text, sentence, content, review, ...)"
    )
    label_column: str | None = setting(
        None, "label column of a .tsv/.csv file (default: label, class, sentiment, ...)"
    )
    encoding: str = setting(
        "utf-8", "text encoding of local files (a UTF-8 byte-order mark is accepted)"
    )
    data_dir: str | None = setting(None, "tensorflow-datasets data directory", same_on_resume=False)
    download: bool = setting(
        False,
        "let tensorflow-datasets download and prepare the data set if it is not prepared",
        same_on_resume=False,
    )
    max_words: int = setting(12, "longest sentence of the built-in 'order' data set, in words")
    order_train_size: int = setting(
        8000, "training sentences of the built-in 'order' data set (validation and test: 1/8 each)"
    )
    position: str = setting(
        "sinusoidal",
        lambda: position_help(include_variants=True),
        choices=lambda: families.names(include_variants=True),
    )
    output_dir: str | None = setting(
        None, "where the run's files go (default: runs/<dataset>_<position>)", same_on_resume=False
    )
    epochs: int | None = setting(
        None,
        "training epochs, at most (see --patience); default: about 3,000 optimizer steps, 3 to 10 epochs",
    )
    patience: int = setting(
        3,
        "stop after this many epochs without a better validation accuracy, counted from the first epoch that beats the first by more than noise (0: never stop early); the best epoch's weights are kept",
    )
    batch_size: int = setting(64, "examples per batch (per replica)")
    learning_rate: float | None = setting(
        None,
        "peak learning rate (AdamW) (default: 3e-3 on the built-in 'order' data set, where it "
        "leaves the early plateau sooner; 1e-3 on others)",
    )
    warmup_fraction: float = setting(
        0.1, "fraction of the steps with linear warmup before the cosine decay"
    )
    weight_decay: float = setting(0.01, "AdamW weight decay")
    max_length: int = setting(
        64, "texts are truncated to this many tokens; also the learned table's length"
    )
    vocab_size: int = setting(20000, "vocabulary size, padding and out-of-vocabulary included")
    embed_dim: int = setting(64, "embedding width")
    ff_dim: int = setting(128, "feed-forward hidden width")
    num_layers: int = setting(2, "encoder blocks")
    dropout: float = setting(0.1, "dropout rate")
    token_dropout: float = setting(
        0.0, "in training, replace each word with the unknown-word id with this probability"
    )
    pooling: str = setting("mean", "how the encoder output is pooled", choices=POOLING_MODES)
    norm_first: bool = setting(
        True, "pre-norm encoder blocks (--no-norm-first: post-norm, as in the paper)"
    )
    scale_embeddings: bool = setting(True, "multiply token embeddings by sqrt(embed-dim)")
    strategy: str = setting(
        "default",
        "'default': one device; 'mirrored': data parallel over all local GPUs",
        choices=STRATEGIES,
    )

    def resolved_output_dir(self) -> str:
        if self.output_dir == "":
            raise argument_error("output_dir", "", "a path (or None for the default)")
        name = f"{data_lib.dataset_name(self.dataset)}_{self.position}"
        return self.output_dir or os.path.join("runs", name)

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return BUILT_IN_LEARNING_RATE if self.dataset == data_lib.BUILT_IN else LEARNING_RATE

    def position_settings(self) -> families.PositionSettings:
        return families.PositionSettings(self.embed_dim, self.num_heads, self.max_length)

    def _check_data_settings_apply(self) -> None:
        kind = data_lib.dataset_kind(self.dataset)
        built_in = Setting("dataset", data_lib.BUILT_IN)
        self.check_applies(
            ("max_words", "order_train_size"), kind == data_lib.BUILT_IN, "with ", built_in
        )
        self.check_applies(
            ("data_dir", "download"), kind == "tfds",
            "with a tensorflow-datasets name as ", Setting("dataset"),
        )  # fmt: skip
        self.check_applies(
            ("encoding",), kind == "local", "with a local file or folder as ", Setting("dataset")
        )

    def check_values(self) -> None:
        _backend.require(
            "tensorflow", "The text classifier's pipeline (tf.data, TextVectorization)"
        )
        self.check_fields()
        if self.epochs is not None:
            check_int("epochs", self.epochs)
        for name in ("batch_size", "max_length", "embed_dim", "ff_dim", "num_layers"):
            check_int(name, getattr(self, name))
        if self.max_length > MAX_POSITION:
            raise argument_error(
                "max_length", self.max_length, f"at most {MAX_POSITION:,} (the most positions the "
                "position layers encode)",
            )  # fmt: skip
        check_int("vocab_size", self.vocab_size, minimum=3)  # Padding, OOV and a word.
        check_int("patience", self.patience, minimum=0)
        check_int("max_words", self.max_words, minimum=MIN_WORDS)
        check_split_size("order_train_size", self.order_train_size, minimum=2)
        if self.dataset == data_lib.BUILT_IN:
            sentences = self.order_train_size * 5 // 4  # Validation and test: 1/8 each.
            check_fits(
                "order_train_size", self.order_train_size,
                sentences * (BYTES_PER_SENTENCE + 16 * self.max_words),
                f"{sentences:,} generated sentences",
            )  # fmt: skip
        self.check_shared()
        if self.learning_rate is not None:
            check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("warmup_fraction", self.warmup_fraction, 0, 1, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("dropout", self.dropout, 0, 1, high_open=True)
        check_number("token_dropout", self.token_dropout, 0, 1, high_open=True)
        self.check_encoding()
        data_lib.check_dataset_arguments(
            self.dataset, self.validation_file, self.test_file, self.text_column, self.label_column
        )
        self._check_data_settings_apply()
        if data_lib.dataset_kind(self.dataset) == "tfds":
            _backend.require("tensorflow_datasets", f"The data set {self.dataset!r}")
        check_strategy(self.strategy)
        check_output_dir(self.resolved_output_dir())
