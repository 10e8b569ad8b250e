"""Texts for language models that the package downloads (`keras-posemb-lm
--download NAME`): each from its source, once, into Keras' cache
(`~/.keras/keras_posemb/`, or under `$KERAS_HOME`), checked against its
SHA-256, so a run trains on exactly the text its results were measured on.
"""

from __future__ import annotations

import dataclasses
import os
import socket

from keras_posemb._args import check_choice
from keras_posemb.errors import DataError, Setting


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A text to download: where from (tried in order) and its SHA-256."""

    urls: tuple[str, ...]
    sha256: str
    size: int  # Bytes.
    description: str


CORPORA = {
    "shakespeare": Corpus(
        (
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            # The same file, kept by TensorFlow's text generation tutorial.
            "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt",
        ),
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        1_115_394,
        "Tiny Shakespeare (Karpathy's char-rnn, nanoGPT's shakespeare_char), 1.1 MB",
    ),
}
# Keras' cache folder (None: `$KERAS_HOME` or `~/.keras`); the tests set their own.
CACHE_DIR = None
CACHE_SUBDIR = "keras_posemb"
# Seconds a source may stay silent before the next one is tried: a network
# that drops packets would otherwise hold the download forever.
SILENCE_SECONDS = 30.0


def check_name(name: str) -> Corpus:
    return CORPORA[check_choice("download", name, tuple(CORPORA))]


def fetch(name: str) -> str:
    """The path of corpus `name` in Keras' cache, downloaded first if it is
    not there (or not intact).

    Raises:
        DataError: when no source can be reached or what arrives is not the
            text expected (its SHA-256 differs), with what to do instead.
    """
    import keras

    corpus, failures = check_name(name), []
    if CACHE_DIR is not None:  # Keras takes an unwritable (or missing) folder for /tmp.
        os.makedirs(CACHE_DIR, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(SILENCE_SECONDS)  # Keras' download takes no timeout of its own.
    try:
        for url in corpus.urls:
            try:
                return keras.utils.get_file(
                    f"{name}.txt", url, file_hash=corpus.sha256, hash_algorithm="sha256",
                    cache_dir=CACHE_DIR, cache_subdir=CACHE_SUBDIR,
                )  # fmt: skip
            except Exception as error:  # Keras raises several types for a failed fetch.
                failures.append(f"{url}: {str(error).splitlines()[0][:200]}")
    finally:
        socket.setdefaulttimeout(previous)
    raise DataError(
        f"Could not download {corpus.description} ({'; '.join(failures)}). Without internet, "
        "get the file elsewhere and train on it with ", Setting("text_file"), ".",
    )  # fmt: skip
