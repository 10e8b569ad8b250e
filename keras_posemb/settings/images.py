"""The image classifier's settings: `ImageTrainConfig`, `keras-posemb-train-images`' flags."""

from __future__ import annotations

import dataclasses
import os
import typing

from keras_posemb import _backend, families
from keras_posemb._args import check_int, check_number
from keras_posemb.data import images as image_data
from keras_posemb.errors import Setting, argument_error
from keras_posemb.runs.run import IMAGE_CLASSIFIER, RunKind
from keras_posemb.settings.run_settings import (
    RunSettings,
    check_output_dir,
    position_help,
    setting,
)

# `build_image_classifier`'s poolings (`keras_posemb.models.image_classifier.
# POOLINGS`, which loads Keras); a test keeps the two equal.
POOLINGS = ("class", "mean")
BUILT_IN = "shapes"
# Image size and channels of the data sets, known before any is read.
SIZES = {BUILT_IN: (32, 1), "mnist": (28, 1), "cifar10": (32, 3)}


@dataclasses.dataclass
class ImageTrainConfig(RunSettings):
    """Every setting of an image run; `keras-posemb-train-images`' flags are these."""

    KIND: typing.ClassVar[RunKind] = IMAGE_CLASSIFIER

    dataset: str = setting(
        BUILT_IN,
        "'shapes' (built in: is the square left of the cross?), 'mnist' or 'cifar10' "
        "(tensorflow-datasets)",
        choices=tuple(SIZES),
    )
    task: str = setting("left", "the built-in set's question: left of, or above", image_data.TASKS)
    data_dir: str | None = setting(None, "tensorflow-datasets data directory", same_on_resume=False)
    download: bool = setting(
        False,
        "let tensorflow-datasets download and prepare the data set if it is not prepared",
        same_on_resume=False,
    )
    position: str = setting(
        "learned_2d",
        lambda: position_help(include_grid=True),
        lambda: families.names(include_grid=True),
    )
    output_dir: str | None = setting(
        None, "where the run's files go (default: runs/images_<dataset>_<position>)",
        same_on_resume=False,
    )  # fmt: skip
    epochs: int = setting(5, "training epochs")
    batch_size: int = setting(64, "images per batch")
    learning_rate: float = setting(1e-3, "peak learning rate (AdamW)")
    warmup_fraction: float = setting(0.1, "fraction of the steps with linear warmup")
    weight_decay: float = setting(0.05, "AdamW weight decay (matrices only)")
    patch_size: int = setting(4, "side of the square patches, in pixels")
    embed_dim: int = setting(64, "patch embedding width")
    ff_dim: int = setting(128, "feed-forward hidden width")
    num_layers: int = setting(2, "encoder blocks")
    dropout: float = setting(0.0, "dropout rate")
    pooling: str = setting("class", "a class token, or the mean of the patches", POOLINGS)

    def resolved_output_dir(self) -> str:
        if self.output_dir == "":
            raise argument_error("output_dir", "", "a path (or None for the default)")
        return self.output_dir or os.path.join("runs", f"images_{self.dataset}_{self.position}")

    @property
    def grid_size(self) -> tuple[int, int]:
        side = SIZES[self.dataset][0] // self.patch_size
        return side, side

    @property
    def tokens(self) -> int:
        """The encoder's sequence: the patches, after the class token if any."""
        rows, cols = self.grid_size
        return (self.pooling == "class") + rows * cols

    def check_values(self) -> None:
        self.check_fields()
        for name in ("epochs", "batch_size", "patch_size", "embed_dim", "ff_dim", "num_layers"):
            check_int(name, getattr(self, name))
        self.check_shared()
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("warmup_fraction", self.warmup_fraction, 0, 1, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_number("dropout", self.dropout, 0, 1, high_open=True)
        built_in = self.dataset == BUILT_IN
        self.check_applies(("task",), built_in, "with ", Setting("dataset", BUILT_IN))
        self.check_applies(
            ("data_dir", "download"), not built_in,
            "with a tensorflow-datasets set (", Setting("dataset", "mnist"), " or 'cifar10')",
        )  # fmt: skip
        if not built_in:
            _backend.require("tensorflow_datasets", f"The data set {self.dataset!r}")
        size = SIZES[self.dataset][0]
        if size % self.patch_size:
            raise argument_error(
                "patch_size",
                self.patch_size,
                f"a divisor of the {size}-pixel images of {self.dataset}",
            )
        check_output_dir(self.resolved_output_dir())

    def position_settings(self) -> families.PositionSettings:
        return families.PositionSettings(
            self.embed_dim, self.num_heads, self.tokens, grid_size=self.grid_size,
            num_prefix_tokens=int(self.pooling == "class"),
        )  # fmt: skip
