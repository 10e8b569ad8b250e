"""TensorBoard summaries of the position table (TensorFlow only).

Keras 3's own `embeddings_freq` does not work (keras-team/keras #20210), so
this callback writes the projector files itself.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_posemb import sinusoid, viz
from keras_posemb.io import atomic_write_text


class PositionSummaries(keras.callbacks.Callback):
    """Writes position-table summaries to `log_dir` each epoch.

    Loss, accuracy and learning rate come from `keras.callbacks.TensorBoard`;
    this adds, under `log_dir/positions`:

    - histograms `position_table/<kind>` of the model's table and of the
      sinusoidal table of the same shape (`kind` is learned or sinusoidal);
    - images `position_similarity/<kind>`: cosine similarity between
      positions;
    - at the end of training, Embedding Projector files: one TSV of vectors
      per table, a metadata TSV with one label per position, and
      `projector_config.pbtxt` pointing at them.

    Args:
        log_dir: the TensorBoard log directory.
        length: number of positions to show.
        width: the embedding width (for the sinusoidal reference table).
    """

    def __init__(self, log_dir, length, width):
        super().__init__()
        self.log_dir = log_dir
        self.length = length
        self.width = width
        self._writer = None

    def tables(self):
        """`{kind: table}` for the model's table and the sinusoidal one."""
        tables = {"sinusoidal": sinusoid.sinusoidal_table(self.length, self.width)}
        try:
            kind, table = viz.position_table(self.model, self.length)
        except ValueError:  # position="none": only the reference.
            return tables
        tables[kind] = table
        return tables

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "positions"))
        with self._writer.as_default(step=epoch):
            for kind, table in self.tables().items():
                tf.summary.histogram(f"position_table/{kind}", table)
                tf.summary.image(f"position_similarity/{kind}", viz.similarity_image(table)[None])
        self._writer.flush()

    def on_train_end(self, logs=None):
        write_projector(self.log_dir, self.tables())
        if self._writer is not None:
            self._writer.close()


def write_projector(log_dir, tables):
    """Embedding Projector files for `{kind: table}` under `log_dir`."""
    from google.protobuf import text_format
    from tensorboard.plugins import projector

    os.makedirs(log_dir, exist_ok=True)
    length = len(next(iter(tables.values())))
    atomic_write_text(os.path.join(log_dir, "positions_metadata.tsv"), "".join(f"position {i}\n" for i in range(length)))
    config = projector.ProjectorConfig()
    for kind, table in tables.items():
        file_name = f"positions_{kind}.tsv"
        rows = "".join("\t".join(f"{value:.6g}" for value in row) + "\n" for row in np.asarray(table))
        atomic_write_text(os.path.join(log_dir, file_name), rows)
        embedding = config.embeddings.add()
        embedding.tensor_name = f"{kind} position table"
        embedding.tensor_path = file_name
        embedding.metadata_path = "positions_metadata.tsv"
        embedding.tensor_shape.extend(np.shape(table))
    atomic_write_text(os.path.join(log_dir, "projector_config.pbtxt"), text_format.MessageToString(config))
