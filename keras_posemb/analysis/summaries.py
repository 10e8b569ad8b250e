"""TensorBoard summaries of the position table (TensorFlow summary writers).

Keras 3's own `embeddings_freq` does not work (keras-team/keras #20210), so
this callback writes the Embedding Projector files itself.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_posemb import families
from keras_posemb.analysis import plots, viz
from keras_posemb.files import atomic_write_text
from keras_posemb.numerics import sinusoid

# The folder under the log directory with the position summaries and the
# projector files. TensorBoard looks for `projector_config.pbtxt` in each
# folder that holds event files, so the projector works with `--logdir` at
# the run's logs/, at the run, or at a folder of many runs.
POSITIONS_FOLDER = "positions"
# The name of the sinusoidal table shown beside a learned one, for comparison.
REFERENCE = "sinusoidal_reference"
# The most positions written for the Embedding Projector.
PROJECTOR_POSITIONS = 4096


class PositionSummaries(keras.callbacks.Callback):
    """Writes position summaries to `log_dir/positions` each epoch.

    Loss, accuracy and learning rate come from `keras.callbacks.TensorBoard`;
    this adds what the model's position family provides
    (its view's summaries, `analysis.plots`): for a table, a histogram
    `position_table/<family>` and an image `position_similarity/<family>`
    (cosine similarity between positions, drawn as in the PNG plots); for
    ALiBi and T5, images `position_bias/<family>` of the first block's bias
    by offset (and for T5 a histogram of its table); for rotary positions, an
    image `rotary_wavelengths` (once: they are fixed). A learned table gets
    the sinusoidal table of the same shape beside it, tagged
    `<...>/sinusoidal_reference`: the reference it is compared with.

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
        self._fixed_written = set()

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.directory)
        with self._writer.as_default(step=epoch):
            for summary in self._summaries(epoch):
                if summary.kind == "image":
                    tf.summary.image(summary.tag, viz.figure_to_image(summary.value)[None])
                else:
                    tf.summary.histogram(summary.tag, summary.value)
        self._writer.flush()

    def _summaries(self, epoch):
        family, layer = families.find_position(self.model)
        view = plots.view_of(family)
        found = view.summaries(layer, self.length, epoch) if view.summaries else []
        found = [s for s in found if not (s.fixed and s.tag in self._fixed_written)]
        self._fixed_written.update(s.tag for s in found if s.fixed)
        if view.table is not None and family.learned:
            reference = sinusoid.sinusoidal_table(self.length, self.width)
            found += plots.table_summaries(REFERENCE, reference)
        return found

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # A resumed epoch and the rest are two fits.


def position_tables(model, length: int, width: int) -> dict:
    """`{name: table}`: the model's position table, if it has one, and beside
    a learned table the sinusoidal table of the same shape as `REFERENCE`.
    Empty for positions without a table."""
    family, layer = families.find_position(model)
    table = plots.view_of(family).table
    if table is None:
        return {}
    tables = {family.name: table(layer, length)}
    if family.learned:
        tables[REFERENCE] = sinusoid.sinusoidal_table(length, width)
    return tables


METADATA = "positions_metadata.tsv"
PROJECTOR_CONFIG = "projector_config.pbtxt"


def _table_file(kind: str) -> str:
    return f"positions_{kind}.tsv"


def projector_files(tables: dict) -> list[str]:
    """The files `write_projector(log_dir, tables)` writes, relative to `log_dir`."""
    if not tables:
        return []
    names = [METADATA, *(_table_file(kind) for kind in tables), PROJECTOR_CONFIG]
    return [f"{POSITIONS_FOLDER}/{name}" for name in names]


def write_projector(log_dir: str, tables: dict) -> None:
    """Embedding Projector files for `{kind: table}` in `log_dir/positions`:
    one TSV of vectors per table, a metadata TSV with one label per
    position, and `projector_config.pbtxt` pointing at them. Nothing for
    no tables."""
    if not tables:
        return
    directory = os.path.join(log_dir, POSITIONS_FOLDER)
    from google.protobuf import text_format
    from tensorboard.plugins import projector

    os.makedirs(directory, exist_ok=True)
    # The projector draws a few thousand points well; longer tables are
    # shown at evenly spaced positions, each labelled with its own.
    rows = viz.drawn_positions(len(next(iter(tables.values()))), PROJECTOR_POSITIONS)
    tables = {kind: np.asarray(table)[rows] for kind, table in tables.items()}
    labels = "".join(f"position {i}\n" for i in rows)
    atomic_write_text(os.path.join(directory, METADATA), labels)
    config = projector.ProjectorConfig()
    for kind, table in tables.items():
        file_name = _table_file(kind)
        rows = "".join(
            "\t".join(f"{value:.6g}" for value in row) + "\n" for row in np.asarray(table)
        )
        atomic_write_text(os.path.join(directory, file_name), rows)
        embedding = config.embeddings.add()
        embedding.tensor_name = f"{kind.replace('_', ' ')} position table"
        embedding.tensor_path = file_name
        embedding.metadata_path = METADATA
        embedding.tensor_shape.extend(np.shape(table))
    config_text = text_format.MessageToString(config)
    atomic_write_text(os.path.join(directory, PROJECTOR_CONFIG), config_text)
