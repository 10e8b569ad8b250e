"""Image classification data as NumPy arrays: the built-in shapes, and
tensorflow-datasets' image sets (`mnist`, `cifar10`, ...).

Images are float32 arrays `(count, height, width, channels)` with pixel
values in [0, 1] (a byte's value / 255): what the image models are trained
on and expect.

The built-in set is the vision twin of "the dog chased the cat": each image
holds a square and a cross, and the label says whether the square is left of
the cross (`task="left"`) or above it (`task="above"`). Every image comes
with its mirror image, which has the other label. Both shapes are symmetric
and centred in cells of `CELL` pixels, so the mirror image is made of the
same patches (mirrored patch for mirrored patch) for any patch size that
divides `CELL / 2`, or equals `CELL`: a model without positions sees the
same bag of patches in both twins, gives them the same output, and scores
exactly 50%. Only where the patches are can tell them apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat

import numpy as np

from keras_posemb import _backend
from keras_posemb._args import check_choice, check_int
from keras_posemb.errors import DataError

CELL = 8
TASKS = ("left", "above")
CLASS_NAMES = {
    "left": ("square right of the cross", "square left of the cross"),
    "above": ("square below the cross", "square above the cross"),
}
# Pairs of twins per split of the built-in set.
SHAPES_PAIRS = {"train": 2000, "validation": 250, "test": 500}


@dataclasses.dataclass
class ImageSplit:
    images: np.ndarray  # float32 (count, height, width, channels) in [0, 1]
    labels: np.ndarray  # int32 (count,)

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class ImageData:
    """An image classification data set: three splits and the class names."""

    name: str
    train: ImageSplit
    validation: ImageSplit
    test: ImageSplit
    class_names: list[str]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train.images.shape[1:3])

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[3])

    def fingerprint(self) -> str:
        """A hash of every image and label: a resumed run checks its data."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            digest.update(np.ascontiguousarray(split.images).tobytes())
            digest.update(np.ascontiguousarray(split.labels).tobytes())
        return digest.hexdigest()


def _draw(canvas, shape, row, col, half, intensity):
    """A centred square or cross of half-width `half` in cell (row, col)."""
    top, left = row * CELL + CELL // 2, col * CELL + CELL // 2
    if shape == "square":
        canvas[top - half : top + half, left - half : left + half] = intensity
    else:  # A cross: two bars two pixels thick.
        canvas[top - 1 : top + 1, left - half : left + half] = intensity
        canvas[top - half : top + half, left - 1 : left + 1] = intensity


def twin_pair(rng: np.random.Generator, image_size: int = 32, task: str = "left"):
    """One image, its mirror image, and their labels `(images (2, s, s, 1), labels (2,))`."""
    cells = image_size // CELL
    axis = 1 if task == "left" else 0  # The axis the label is about.
    while True:
        places = rng.integers(0, cells, size=(2, 2))
        if places[0, axis] != places[1, axis]:
            break
    canvas = np.zeros((image_size, image_size), np.float32)
    for shape, (row, col) in zip(("square", "cross"), places):
        half = int(rng.integers(2, CELL // 2 + 1))
        _draw(canvas, shape, row, col, half, rng.uniform(0.5, 1.0))
    label = int(places[0, axis] < places[1, axis])  # Square left of (above) the cross.
    twin = np.flip(canvas, axis=axis)
    return np.stack([canvas, twin])[..., None], np.array([label, 1 - label], np.int32)


def shapes_split(num_pairs: int, seed, image_size: int = 32, task: str = "left") -> ImageSplit:
    """`num_pairs` twin pairs (each image next to its mirror image)."""
    check_int("num_pairs", num_pairs)
    rng = np.random.default_rng(seed)
    pairs = [twin_pair(rng, image_size, task) for _ in range(num_pairs)]
    return ImageSplit(
        np.concatenate([images for images, _ in pairs]),
        np.concatenate([labels for _, labels in pairs]),
    )


def shapes_data(
    seed: int = 0, image_size: int = 32, task: str = "left", scale: float = 1.0
) -> ImageData:
    """The built-in shapes set: 4,000 training, 500 validation and 1,000
    test images by default (`scale` multiplies the counts), from `seed`."""
    check_choice("task", task, TASKS)
    check_int("image_size", image_size, minimum=2 * CELL)
    if image_size % CELL:
        raise ValueError(
            f"Argument `image_size` must be a multiple of {CELL} (the shapes' cells); received "
            f"image_size={image_size}."
        )
    splits = {
        name: shapes_split(max(1, round(pairs * scale)), (seed, index), image_size, task)
        for index, (name, pairs) in enumerate(SHAPES_PAIRS.items())
    }
    return ImageData(f"shapes_{task}", **splits, class_names=list(CLASS_NAMES[task]))


# Pillow's modes for 1 and 3 channels.
_MODES = {1: "L", 3: "RGB"}


def read_image_file(path: str | os.PathLike, image_size: tuple[int, int], channels: int):
    """One image file (PNG, JPEG, BMP, GIF, ... as Pillow reads them) as a
    float32 array `(height, width, channels)` in [0, 1], converted to
    grayscale or RGB and resized (bilinear, as Keras'
    `image_dataset_from_directory` does) to `image_size`; also the size it
    had, `(height, width)`.

    Raises:
        DataError: naming the file when it is not a regular file (a folder,
            a FIFO or a device is never opened) or not an image Pillow reads.
    """
    _backend.require("PIL", "Reading image files")
    from PIL import Image, UnidentifiedImageError

    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as error:
        raise DataError(
            f"{path} cannot be read ({error.strerror}); expected an image file."
        ) from None
    if not regular:
        raise DataError(f"{path} is not a regular file; expected an image file.")
    try:
        with Image.open(path) as image:
            original = (image.height, image.width)
            image = image.convert(_MODES[channels])
            if original != tuple(image_size):
                image = image.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, np.float32) / 255
    except Image.DecompressionBombError as error:  # Refused before it is decoded.
        raise DataError(f"{path} is too large to read ({error}).") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path} is not an image that can be read ({reason}).") from None
    return pixels.reshape(*image_size, channels), original


def tfds_images(
    name: str,
    data_dir: str | None = None,
    download: bool = False,
    holdout_fraction: float = 0.1,
    seed: int = 0,
) -> ImageData:
    """An image classification set from tensorflow-datasets (`"mnist"`,
    `"cifar10"`, ...), as float32 arrays in [0, 1]; validation is a seeded
    `holdout_fraction` of train. Errors as `data.tfds.prepared_builder`."""
    _backend.require("tensorflow_datasets", f"The data set {name!r}")
    import tensorflow_datasets as tfds

    from keras_posemb.data.tfds import prepared_builder
    from keras_posemb.errors import DataError

    builder = prepared_builder(name, data_dir, download)
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise DataError(f"tensorflow-datasets {name!r} has no image and label: {list(features)}.")

    def read(split):
        images, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            images.append(example["image"])
            labels.append(int(example["label"]))
        return ImageSplit(np.stack(images).astype(np.float32) / 255, np.array(labels, np.int32))

    train, test = read("train"), read("test")
    order = np.random.default_rng(seed).permutation(len(train))
    held = max(1, int(round(holdout_fraction * len(train))))
    validation = ImageSplit(train.images[order[:held]], train.labels[order[:held]])
    train = ImageSplit(train.images[order[held:]], train.labels[order[held:]])
    return ImageData(name, train, validation, test, list(features["label"].names))
