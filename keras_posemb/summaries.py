"""TensorBoard summaries of the position table (TensorFlow summary writers).

Keras 3's own `embeddings_freq` does not work (keras-team/keras #20210), so
this callback writes the Embedding Projector files itself.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_posemb import sinusoid, viz
from keras_posemb.files import atomic_write_text

# The folder under the log directory with the position summaries and the
# projector files. TensorBoard looks for `projector_config.pbtxt` in each
# folder that holds event files, so the projector works with `--logdir` at
# the run's logs/, at the run, or at a folder of many runs.
POSITIONS_FOLDER = "positions"


class PositionSummaries(keras.callbacks.Callback):
    """Writes position-table summaries to `log_dir/positions` each epoch.

    Loss, accuracy and learning rate come from `keras.callbacks.TensorBoard`;
    this adds:

    - histograms `position_table/<kind>` of the model's table and of the
      sinusoidal table of the same shape (`kind` is learned or sinusoidal);
    - images `position_similarity/<kind>`: cosine similarity between
      positions, drawn with axes and a colour bar as in the PNG plots;
    - for ALiBi and T5, images `position_bias/<kind>` of the first block's
      bias by offset, one curve per head, and for T5 a histogram
      `position_bias/t5` of its learned table; for rotary positions, an
      image `rotary_wavelengths` (once: they are fixed).

    The trainer writes the Embedding Projector files with
    `write_projector` once the best epoch's weights are back in the model.

    Args:
        log_dir: the TensorBoard log directory.
        length: number of positions to show.
        width: the embedding width (for the sinusoidal reference table).
    """

    def __init__(self, log_dir: str, length: int, width: int):
        super().__init__()
        self.directory = os.path.join(log_dir, POSITIONS_FOLDER)
        self.length = length
        self.width = width
        self._writer = None
        self._rotary_written = False

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.directory)
        with self._writer.as_default(step=epoch):
            for kind, table in position_tables(self.model, self.length, self.width).items():
                tf.summary.histogram(f"position_table/{kind}", table)
                image = viz.figure_to_image(viz.plot_similarity({kind: table}))
                tf.summary.image(f"position_similarity/{kind}", image[None])
            self._relative_summaries(epoch)
        self._writer.flush()

    def _relative_summaries(self, epoch):
        import tensorflow as tf

        kind = viz.position_kind(self.model)
        if kind in ("alibi", "t5"):
            offsets, bias = viz.bias_by_offset(self.model, self.length)
            figure = viz.plot_bias_by_offset(
                offsets, bias, f"{kind} bias, first block, epoch {epoch + 1}"
            )
            tf.summary.image(f"position_bias/{kind}", viz.figure_to_image(figure)[None])
        if kind == "t5":
            table = viz.find_relative_attention(self.model).bias.get_weights()[0]
            tf.summary.histogram("position_bias/t5", table)
        if kind == "rotary" and not self._rotary_written:
            self._rotary_written = True
            image = viz.figure_to_image(
                viz.plot_rotary(viz.rotary_wavelengths(self.model), self.length)
            )
            tf.summary.image("rotary_wavelengths", image[None])

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def position_tables(model, length: int, width: int) -> dict:
    """`{kind: table}`: the model's position table, if it has one, and the
    sinusoidal table of the same shape for reference."""
    tables = {"sinusoidal": sinusoid.sinusoidal_table(length, width)}
    if viz.find_position_layer(model) is not None:
        kind, table = viz.position_table(model, length)
        tables[kind] = table
    return tables


def write_projector(log_dir: str, tables: dict) -> None:
    """Embedding Projector files for `{kind: table}` in `log_dir/positions`:
    one TSV of vectors per table, a metadata TSV with one label per
    position, and `projector_config.pbtxt` pointing at them."""
    directory = os.path.join(log_dir, POSITIONS_FOLDER)
    from google.protobuf import text_format
    from tensorboard.plugins import projector

    os.makedirs(directory, exist_ok=True)
    length = len(next(iter(tables.values())))
    labels = "".join(f"position {i}\n" for i in range(length))
    atomic_write_text(os.path.join(directory, "positions_metadata.tsv"), labels)
    config = projector.ProjectorConfig()
    for kind, table in tables.items():
        file_name = f"positions_{kind}.tsv"
        rows = "".join(
            "\t".join(f"{value:.6g}" for value in row) + "\n" for row in np.asarray(table)
        )
        atomic_write_text(os.path.join(directory, file_name), rows)
        embedding = config.embeddings.add()
        embedding.tensor_name = f"{kind} position table"
        embedding.tensor_path = file_name
        embedding.metadata_path = "positions_metadata.tsv"
        embedding.tensor_shape.extend(np.shape(table))
    config_text = text_format.MessageToString(config)
    atomic_write_text(os.path.join(directory, "projector_config.pbtxt"), config_text)
