"""Batches of token ids for Keras, as `tf.data` datasets.

Keras' `fit` takes a `tf.data.Dataset` on every backend, so TensorFlow does
the input work (vectorizing) whichever backend trains; the models stay
backend-agnostic. Texts are vectorized once; batches are then assembled in
NumPy, bucketed by length: each batch is padded (with id 0) to the smallest
of `bucket_lengths(max_length)` that holds its longest text, so a handful of
shapes keeps `tf.function` and XLA from recompiling and short texts do not
pay for the longest one.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np

from keras_posemb.data.text_data import Split
from keras_posemb.errors import DataError

# Padded lengths below `max_length`.
BUCKET_LENGTHS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)
# Token ids 0 and 1 of a `TextVectorization` vocabulary.
PADDING_TOKEN, OOV_TOKEN = "", "[UNK]"
VECTORIZE_BATCH = 2048
Vectorizer = keras.layers.TextVectorization


def bucket_lengths(max_length: int) -> list[int]:
    """Padded lengths: powers of two from 8, then `max_length` itself."""
    return [n for n in BUCKET_LENGTHS if n < max_length] + [max_length]


def make_vectorizer(texts: list[str], vocab_size: int) -> keras.layers.TextVectorization:
    """A `TextVectorization` adapted on batched training text in tf.data."""
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(max_tokens=vocab_size, output_mode="int")
    batches = tf.data.Dataset.from_tensor_slices(texts).batch(VECTORIZE_BATCH)
    vectorizer.adapt(batches.prefetch(tf.data.AUTOTUNE))
    if vectorizer.vocabulary_size() <= 2:  # Padding and out-of-vocabulary only.
        raise DataError(
            f"The {len(texts):,} training texts hold no words once lower-cased and stripped of "
            f"punctuation (e.g. {texts[0][:60]!r}); there is nothing to learn from."
        )
    return vectorizer


def vectorizer_from_vocabulary(vocabulary: list[str]) -> keras.layers.TextVectorization:
    """The `TextVectorization` that `get_vocabulary()` came from.

    `vocabulary` is the full list, padding and out-of-vocabulary tokens
    first, as `get_vocabulary()` returns it; the layer adds those two itself.
    """
    if vocabulary[:2] != [PADDING_TOKEN, OOV_TOKEN]:
        raise ValueError(
            f"A TextVectorization vocabulary starts with {[PADDING_TOKEN, OOV_TOKEN]}; "
            f"received {vocabulary[:2]}."
        )
    return keras.layers.TextVectorization(vocabulary=vocabulary[2:], output_mode="int")


def token_ids(texts: list[str], vectorizer: Vectorizer, max_length: int) -> list[np.ndarray]:
    """Each text's token ids, truncated to `max_length`, without padding."""
    rows = []
    for start in range(0, len(texts), VECTORIZE_BATCH):
        padded = np.asarray(vectorizer(texts[start : start + VECTORIZE_BATCH]))[:, :max_length]
        lengths = np.count_nonzero(padded, axis=1)  # Padding (id 0) is only at the end.
        rows.extend(row[:length] for row, length in zip(padded, lengths))
    return rows


class _Batcher:
    """A split's token ids in memory, batched by length bucket in NumPy.

    Examples go to their bucket in the given order; a bucket that fills up
    becomes a batch, and the partly filled ones follow at the end. The
    number of batches therefore depends on how many texts fall in each
    bucket, never on their order.

    With `multiple` > 1 every batch is padded to a multiple of that many
    rows (JAX's data parallelism splits a batch evenly over its devices):
    the extra rows are all padding with sample weight 0, so they count in
    no loss or metric, and batches are `(ids, labels, weights)`.
    """

    def __init__(
        self, split: Split, vectorizer, max_length: int, batch_size: int, multiple: int = 1
    ):
        self.rows = token_ids(split.texts, vectorizer, max_length)
        self.labels = np.asarray(split.labels, np.int64)
        self.lengths = bucket_lengths(max_length)
        lengths = np.array([len(row) for row in self.rows])
        self.buckets = np.searchsorted(self.lengths, lengths)
        self.batch_size, self.multiple = batch_size, multiple
        counts = np.bincount(self.buckets, minlength=len(self.lengths))
        self.batch_count = int(sum(-(-count // batch_size) for count in counts))

    def __len__(self):
        return len(self.rows)

    def batches(self, order):
        pending = [[] for _ in self.lengths]
        for index in order:
            bucket = pending[self.buckets[index]]
            bucket.append(index)
            if len(bucket) == self.batch_size:
                yield self._padded(bucket, self.lengths[self.buckets[index]])
                bucket.clear()
        for length, bucket in zip(self.lengths, pending):
            if bucket:
                yield self._padded(bucket, length)

    def _padded(self, indices, length):
        rows = -(-len(indices) // self.multiple) * self.multiple
        ids = np.zeros((rows, length), np.int64)
        for row, index in zip(ids, indices):
            row[: len(self.rows[index])] = self.rows[index]
        labels = np.zeros(rows, np.int64)
        labels[: len(indices)] = self.labels[indices]
        if self.multiple == 1:
            return ids, labels
        weights = np.zeros(rows, np.float32)
        weights[: len(indices)] = 1
        return ids, labels, weights

    def dataset(self, orders, count, skipped: int = 0):
        """A `tf.data.Dataset` of the batches of each order in `orders()`, the
        first `skipped` left out."""
        import tensorflow as tf

        def generate():
            batches = (batch for order in orders() for batch in self.batches(order))
            yield from itertools.islice(batches, skipped, None)

        signature = (
            tf.TensorSpec((None, None), tf.int64, name="token_ids"),
            tf.TensorSpec((None,), tf.int64, name="labels"),
        )
        if self.multiple > 1:
            signature += (tf.TensorSpec((None,), tf.float32, name="weights"),)
        batches = tf.data.Dataset.from_generator(generate, output_signature=signature)
        batches = batches.apply(tf.data.experimental.assert_cardinality(count))
        # Replicas on one machine split each batch; there are no files to shard.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def make_pipeline(
    split: Split, vectorizer: Vectorizer, max_length: int, batch_size: int, multiple: int = 1
):
    """Batches of `(token_ids, labels)`, in order within each length bucket;
    `multiple` as in `TrainingBatches`."""
    batcher = _Batcher(split, vectorizer, max_length, batch_size, multiple)
    return batcher.dataset(lambda: [range(len(batcher))], batcher.batch_count)


class TrainingBatches:
    """Shuffled training batches, epoch by epoch, bucketed by length.

    Epoch `e` is shuffled by a generator seeded with `(seed, e)` alone, so a
    run resumed at epoch `e` sees the batches an uninterrupted run would
    have. With `multiple` > 1, every batch is padded to a multiple of that
    many rows with rows of sample weight 0 (for JAX's data parallelism),
    and batches are `(ids, labels, weights)`.

    Attributes:
        steps_per_epoch: batches per epoch; pass it to `fit`, since
            `epochs()` is one stream of every epoch's batches.
        longest: tokens in the longest training example.
    """

    def __init__(
        self,
        split: Split,
        vectorizer: Vectorizer,
        max_length: int,
        batch_size: int,
        seed: int,
        multiple: int = 1,
    ):
        self._batcher = _Batcher(split, vectorizer, max_length, batch_size, multiple)
        self._seed = seed
        self.steps_per_epoch = self._batcher.batch_count
        # Positions after this one are never seen in training.
        self.longest = max((len(row) for row in self._batcher.rows), default=0)

    def order(self, epoch: int) -> np.ndarray:
        """The order of the examples in `epoch`."""
        return np.random.default_rng([self._seed, epoch]).permutation(len(self._batcher))

    def epochs(self, first: int, last: int, first_step: int = 0):
        """The batches of epochs `first .. last - 1`, from step `first_step` of
        epoch `first` on, as one `tf.data.Dataset`."""

        def orders():
            return (self.order(epoch) for epoch in range(first, last))

        count = self.steps_per_epoch * (last - first) - first_step
        return self._batcher.dataset(orders, count, first_step)
