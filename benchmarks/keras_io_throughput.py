"""Training throughput against a plain re-implementation of the keras.io example.

The keras.io example "Text classification with Transformer" trains, on IMDB,
an embedding of width 32 with a learned position embedding, one transformer
block (2 heads, feed-forward 32), average pooling and a small dense head, on
sequences padded to 200 tokens, with Adam and batch size 32. This script
re-implements that recipe plainly (its own subclassed layers, every text
padded to `--length`) and trains it on the same data as this package's
classifier of the same size (`build_text_classifier(embed_dim=32,
num_heads=2, ff_dim=32, num_layers=1, position="learned")`) with the
package's pipeline (length buckets, padding mask). Epochs of the two
alternate in one process; examples per second exclude the first epoch of
each (tracing and compilation). Both are then evaluated on `--test`.

    python benchmarks/keras_io_throughput.py [--train ../shared/data/sst2/train.tsv]
"""

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_posemb import data, models  # noqa: E402

SST2 = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "sst2"
)


class PlainTransformerBlock(keras.layers.Layer):
    """Post-norm block: attention and a ReLU feed-forward, no padding mask."""

    def __init__(self, width, heads, ff_dim, rate=0.1):
        super().__init__()
        self.attention = keras.layers.MultiHeadAttention(heads, width)
        self.hidden = keras.layers.Dense(ff_dim, activation="relu")
        self.out = keras.layers.Dense(width)
        self.norms = [keras.layers.LayerNormalization(epsilon=1e-6) for _ in range(2)]
        self.drops = [keras.layers.Dropout(rate) for _ in range(2)]

    def call(self, x, training=False):
        x = self.norms[0](x + self.drops[0](self.attention(x, x), training=training))
        return self.norms[1](x + self.drops[1](self.out(self.hidden(x)), training=training))


class PlainTokenAndPosition(keras.layers.Layer):
    """Token embedding plus a learned position embedding looked up by arange."""

    def __init__(self, length, vocab, width):
        super().__init__()
        self.tokens = keras.layers.Embedding(vocab, width)
        self.positions = keras.layers.Embedding(length, width)

    def call(self, ids):
        return self.tokens(ids) + self.positions(keras.ops.arange(keras.ops.shape(ids)[-1]))


def plain_model(length, vocab):
    ids = keras.Input(shape=(length,))
    x = PlainTokenAndPosition(length, vocab, 32)(ids)
    x = PlainTransformerBlock(32, 2, 32)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(20, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    return keras.Model(ids, keras.layers.Dense(2, activation="softmax")(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train", default=os.path.join(SST2, "train.tsv"), help="labelled .tsv/.csv training file"
    )
    parser.add_argument(
        "--test",
        default=os.path.join(SST2, "dev.tsv"),
        help="labelled file for the accuracy column",
    )
    parser.add_argument(
        "--length",
        type=int,
        default=200,
        help="padded length of the plain recipe and max_length of ours",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="epochs of each model, as in the example (the first is not timed)",
    )
    parser.add_argument("--vocab-size", type=int, default=20000)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)

    loaded = data.local_dataset(args.train, test_file=args.test, seed=0)
    train = loaded.train  # 10% of the training file is held out, unused.
    vectorizer = data.make_vectorizer(train.texts, args.vocab_size)

    def padded(split, shuffle):
        ids = vectorizer(tf.constant(split.texts))[:, : args.length].numpy()
        ids = np.pad(ids, [(0, 0), (0, args.length - ids.shape[1])])
        ds = tf.data.Dataset.from_tensor_slices((ids, split.labels))
        return (
            (ds.shuffle(len(split), seed=0) if shuffle else ds).batch(32).prefetch(tf.data.AUTOTUNE)
        )

    plain_batches = padded(train, True)
    our_batches = data.TrainingBatches(train, vectorizer, args.length, 32, seed=0)
    # (model, the training batches of an epoch, the test batches)
    contenders = {
        "plain keras.io recipe (padded to length)": (
            plain_model(args.length, args.vocab_size),
            lambda epoch: plain_batches,
            padded(loaded.test, False),
        ),
        "keras_posemb build_text_classifier": (
            models.build_text_classifier(
                args.vocab_size,
                2,
                args.length,
                position="learned",
                embed_dim=32,
                num_heads=2,
                ff_dim=32,
                num_layers=1,
            ),
            lambda epoch: our_batches.epochs(epoch, epoch + 1),
            data.make_pipeline(loaded.test, vectorizer, args.length, 32),
        ),
    }
    for model, _, _ in contenders.values():
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    seconds = {name: [] for name in contenders}
    for epoch in range(args.epochs):
        for name, (model, epoch_batches, _) in contenders.items():
            start = time.perf_counter()
            model.fit(epoch_batches(epoch), epochs=1, verbose=0)
            seconds[name].append(time.perf_counter() - start)

    print(
        f"\n{len(train)} training examples from {os.path.basename(args.train)}, length {args.length}, batch 32; "
        f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}\n"
    )
    print(
        f"| model | parameters | seconds per epoch (after the first) | examples/s | accuracy on {os.path.basename(args.test)} |"
    )
    print("|---|---:|---:|---:|---:|")
    rates = {}
    for name, (model, _, test) in contenders.items():
        per_epoch = float(np.mean(seconds[name][1:]))
        rates[name] = len(train) / per_epoch
        accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
        print(
            f"| {name} | {model.count_params():,} | {per_epoch:.1f} | {rates[name]:,.0f} | {accuracy:.4f} |"
        )
    plain, ours = rates.values()
    print(f"\nkeras_posemb / plain: {ours / plain:.2f}x the examples per second")


if __name__ == "__main__":
    main()
