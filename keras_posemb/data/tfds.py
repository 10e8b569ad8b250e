"""Text classification data sets from tensorflow-datasets, by name."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np

from keras_posemb import _backend
from keras_posemb.data.local import TEXT_COLUMNS
from keras_posemb.data.text_data import Split, TextData, dataset_name, split_off
from keras_posemb.errors import DataError, Setting

# Reached before a download: tensorflow-datasets' own retries take minutes
# to give up when there is no network.
NETWORK_PROBE_URL = "https://storage.googleapis.com/"
NETWORK_PROBE_SECONDS = 15


def _text_and_label_keys(features):
    import tensorflow_datasets as tfds

    def of_type(kind):
        return [key for key, feature in features.items() if isinstance(feature, kind)]

    labels, texts = of_type(tfds.features.ClassLabel), of_type(tfds.features.Text)
    text = next((key for key in TEXT_COLUMNS if key in texts), texts[0] if texts else None)
    return text, labels[0] if labels else None


def check_network(url: str | None = None, timeout: float = NETWORK_PROBE_SECONDS) -> None:
    """Raises `DataError` with advice unless `url` answers within `timeout`.

    Any HTTP answer counts, an error status included; proxies set in the
    environment are used, as tensorflow-datasets uses them.
    """
    url = url or NETWORK_PROBE_URL
    try:
        urllib.request.urlopen(url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except OSError as error:  # URLError, timeouts, refused connections.
        raise DataError(
            f"Cannot download: {url} did not answer within {timeout:g} s ({error}). On a "
            "machine with internet access, run the same command to download and prepare the "
            "data set, then copy its tensorflow-datasets directory here and point ",
            Setting("data_dir"),
            " at it.",
        ) from None


def prepared_builder(name: str, data_dir: str | None = None, download: bool = False):
    """The tensorflow-datasets builder of `name`, its data prepared.

    Raises:
        DataError: for an unknown name; when the data is not prepared and
            `download` is off (a plain `tfds.load` would retry downloading
            for minutes offline); when it must be downloaded and the network
            does not answer.
        DependencyError: when tensorflow-datasets is not installed.
    """
    _backend.require("tensorflow_datasets", f"The data set {name!r}")
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises several kinds for unknown names.
        raise DataError(
            Setting("dataset", name),
            f" is not a file, a directory or a known tensorflow-datasets name ({error}).",
        ) from error
    if not builder.is_prepared():
        if not download:
            raise DataError(
                f"tensorflow-datasets {name!r} is not prepared in {builder.data_dir_root!s}. "
                "Download it with ",
                Setting("download", True),
                " on a machine with internet access, or point ",
                Setting("data_dir"),
                " at a directory that holds the prepared data.",
            )
        check_network()
        builder.download_and_prepare()
    return builder


def tfds_dataset(
    name: str,
    data_dir: str | None = None,
    download: bool = False,
    holdout_fraction: float = 0.1,
    seed: int = 0,
) -> TextData:
    """A text classification data set from tensorflow-datasets, by name.

    Uses the data set's test split, or its validation split when the test
    labels are hidden (all -1, as in glue/sst2); validation is the validation
    split when it is not already the test split, else a seeded
    `holdout_fraction` of train.

    Args:
        name: a tfds name such as `"imdb_reviews"` or `"glue/sst2"`.
        data_dir: where tfds keeps prepared data (tfds' default if `None`).
        download: download and prepare the data if it is not there yet.

    Raises:
        DataError: when the data is not prepared and `download` is off (a
            plain `tfds.load` would retry downloading for minutes offline),
            when it must be downloaded and the network does not answer, or
            when the data set has no text and class-label features.
    """
    _backend.require("tensorflow_datasets", f"The data set {name!r}")
    import tensorflow_datasets as tfds

    builder = prepared_builder(name, data_dir, download)
    text_key, label_key = _text_and_label_keys(builder.info.features)
    if text_key is None or label_key is None:
        raise DataError(
            f"tensorflow-datasets {name!r} has no text feature and class label: {list(builder.info.features)}."
        )

    def read(split):
        texts, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            texts.append(example[text_key].decode("utf-8"))
            labels.append(int(example[label_key]))
        return Split(texts, np.array(labels, "int64"))

    recorded = set(builder.info.splits)  # Empty when the metadata is not written.

    def read_if_present(split):
        if recorded and split not in recorded:
            return None
        try:
            return read(split)
        except (KeyError, ValueError):  # Unknown split.
            return None

    train = read("train")
    test = read_if_present("test")
    validation = read_if_present("validation")
    if test is None or np.all(test.labels < 0):
        test, validation = validation, None
    if test is None:
        train, test = split_off(train, holdout_fraction, seed + 1)
    if validation is None:
        train, validation = split_off(train, holdout_fraction, seed + 2)
    class_names = list(builder.info.features[label_key].names)
    return TextData(dataset_name(name), train, validation, test, class_names)
