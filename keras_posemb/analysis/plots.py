"""How each family is drawn: its position table, its plots (PNG files) and
its TensorBoard summaries, as views keyed by family name.

A family without a view of its own is drawn as the family it is a variant
of (`PositionFamily.variant_of`), else not at all. A family of one's own
gets its views with `register_view`:

    plots.register_view("toy", plots.FamilyView(
        plots={"toy_bias": lambda layer, length, trained_length: figure},
    ))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from keras_posemb import families, files
from keras_posemb.analysis import viz
from keras_posemb.layers import PositionEmbedding2D
from keras_posemb.layers.rotary_embedding_2d import axis_frequencies
from keras_posemb.numerics import sinusoid


class Summary(NamedTuple):
    """One TensorBoard summary: `kind` is "image" (a matplotlib figure) or
    "histogram" (an array); `fixed` ones are the same every epoch and are
    written once per process."""

    tag: str
    kind: str
    value: Any
    fixed: bool = False


# (position layer, number of positions, longest trained sequence or None) -> figure
LayerPlot = Callable[[Any, int | None, int | None], Any]


@dataclasses.dataclass(frozen=True)
class FamilyView:
    """How one family is drawn.

    Args:
        table: `(layer, length) -> (length, width)` float64 array, for
            families with a position table (projector files, table plots).
        plots: `{name: LayerPlot}`; each is written as `plot_file_name(name)`.
            The trained length is the longest sequence the model was trained
            on, or `None` if unknown: rows of a learned table past it were
            never trained.
        summaries: `(layer, length, epoch) -> [Summary, ...]`.
    """

    table: Callable[[Any, int | None], np.ndarray] | None = None
    plots: Mapping[str, LayerPlot] = dataclasses.field(default_factory=dict)
    summaries: Callable[[Any, int, int], list[Summary]] | None = None


_VIEWS: dict[str, FamilyView] = {}


def register_view(family_name: str, view: FamilyView) -> None:
    """Sets the view of the family `family_name` (a later call replaces it)."""
    _VIEWS[family_name] = view


def unregister_view(family_name: str) -> None:
    _VIEWS.pop(family_name, None)


def view_of(family: families.PositionFamily) -> FamilyView:
    """The family's view, its base family's for a variant, else an empty one."""
    return _VIEWS.get(family.name) or _VIEWS.get(family.variant_of) or FamilyView()


def plot_file_name(name: str) -> str:
    """The file of a family's plot `name` in a run directory or plot folder."""
    return f"position_{name}.png"


def plot_names() -> tuple[str, ...]:
    """The names of every view's plots."""
    return tuple(dict.fromkeys(name for view in _VIEWS.values() for name in view.plots))


def position_table(model: Any, length: int | None = None) -> tuple[str, np.ndarray]:
    """`(family name, float64 table (length, width))` of a model's position table.

    Raises:
        ValueError: if the model's positions have no table.
    """
    family, layer = families.find_position(model)
    table = view_of(family).table
    if table is None:
        raise ValueError(
            f"Model {model.name!r} has no position table (its positions: {family.name!r})."
        )
    return family.name, table(layer, length)


def write_position_plots(
    model: Any,
    output_dir: str | os.PathLike,
    length: int | None = None,
    trained_length: int | None = None,
) -> tuple[list[str], bool]:
    """Writes the PNGs of a model's position family to `output_dir`;
    `trained_length`, if known, is the longest sequence it was trained on.
    The figures of a family whose positions are not learned say so.

    Returns:
        `(paths, learned)`: the files written, and whether what they show
        was learned.

    Raises:
        ValueError: when the model has no position information to plot.
    """
    family, layer = families.find_position(model)
    plots = view_of(family).plots
    if not plots:
        raise ValueError(f"Model {model.name!r} has no position information to plot.")
    paths = []
    for name, plot in plots.items():
        paths.append(str(Path(output_dir) / plot_file_name(name)))
        figure = plot(layer, length, trained_length)
        if not family.learned:
            viz.mark_fixed(figure)
        files.atomic_save_figure(figure, paths[-1])
    return paths, family.learned


def table_summaries(name: str, table: np.ndarray) -> list[Summary]:
    """A table's histogram `position_table/<name>` and its cosine-similarity
    image `position_similarity/<name>`."""
    return [
        Summary(f"position_table/{name}", "histogram", table),
        Summary(f"position_similarity/{name}", "image", viz.plot_similarity({name: table})),
    ]


# The package's own families.


def _sinusoidal_table(layer, length):
    if length is None:
        raise ValueError("Argument `length` is required for a sinusoidal encoding.")
    return sinusoid.sinusoidal_table(length, layer.width, layer.max_wavelength, layer.layout)


def _learned_table(layer, length):
    table = np.asarray(layer.get_weights()[0], np.float64)
    return table[:length] if length else table


def _table_view(table, title, learned) -> FamilyView:
    """The five table plots and the table's summaries; a learned table is
    drawn next to the sinusoidal table of the same shape, with the end of
    its trained rows marked; a sinusoidal one alone."""
    own_title = f"{title} (model)"

    def tables(layer, length):
        own = table(layer, length)
        drawn = {own_title: own}
        if learned:
            drawn["sinusoidal (same shape)"] = sinusoid.sinusoidal_table(*own.shape)
        return drawn

    def trained_rows(drawn, trained_length):
        rows = len(drawn[own_title])
        return {own_title: trained_length} if learned and (trained_length or rows) < rows else {}

    def spectrum(layer, length, trained_length):
        drawn = tables(layer, length)
        frequencies = {
            name: sinusoid.channel_frequencies_and_phases(t.shape[1])[0]
            for name, t in drawn.items()
            if name.startswith("sinusoidal")
        }
        return viz.plot_spectrum(drawn, frequencies)

    def heatmaps(layer, length, trained_length):
        drawn = tables(layer, length)
        return viz.plot_tables(drawn, trained_rows=trained_rows(drawn, trained_length))

    def similarity(layer, length, trained_length):
        drawn = tables(layer, length)
        return viz.plot_similarity(drawn, trained_rows=trained_rows(drawn, trained_length))

    plots = {
        "heatmaps": heatmaps,
        "similarity": similarity,
        "offset_similarity": lambda layer, length, trained_length: viz.plot_offset_similarity(
            tables(layer, length)
        ),
        "pca": lambda layer, length, trained_length: viz.plot_pca(tables(layer, length)),
        "spectrum": spectrum,
    }
    return FamilyView(
        table=table,
        plots=plots,
        summaries=lambda layer, length, epoch: table_summaries(title, table(layer, length)),
    )


def _bias_view(name, title) -> FamilyView:
    def plot(layer, length, trained_length=None):
        offsets, bias = viz.bias_by_offset(layer, length or 64)
        return viz.plot_bias_by_offset(offsets, bias, f"{title}, first block")

    def summaries(layer, length, epoch):
        offsets, bias = viz.bias_by_offset(layer, length)
        image = viz.plot_bias_by_offset(
            offsets, bias, f"{name} bias, first block, epoch {epoch + 1}"
        )
        found = [Summary(f"position_bias/{name}", "image", image)]
        if layer.weights:
            found.append(Summary(f"position_bias/{name}", "histogram", layer.get_weights()[0]))
        return found

    return FamilyView(plots={"bias_by_offset": plot}, summaries=summaries)


def _rotary_view() -> FamilyView:
    def plot(layer, length, trained_length=None):
        return viz.plot_rotary(viz.rotary_wavelengths(layer), length or 64)

    def summaries(layer, length, epoch):
        image = viz.plot_rotary(viz.rotary_wavelengths(layer), length)
        return [Summary("rotary_wavelengths", "image", image, fixed=True)]

    return FamilyView(plots={"rotary": plot}, summaries=summaries)


def _grid_table(layer):
    """A grid layer's `(rows, cols, d)` table, float64."""
    if isinstance(layer, PositionEmbedding2D):
        return np.asarray(layer.get_weights()[0], np.float64)
    if layer.grid_size is None:
        raise ValueError(f"{layer.name!r} has no grid_size to draw its table for.")
    return layer.table(*layer.grid_size)


def _grid_rotary_frequencies(layer):
    """`(row, column)` frequencies `(heads, pairs)` of a RotaryEmbedding2D."""
    if layer.mixed:
        row, col = np.asarray(layer.get_weights()[0], np.float64)
        return row, col
    frequencies = axis_frequencies(layer.width, layer.base)
    zeros = np.zeros_like(frequencies)
    return np.concatenate([frequencies, zeros]), np.concatenate([zeros, frequencies])


def _grid_view(name, plot_name, tag, draw, fixed) -> FamilyView:
    """One picture of the grid (`draw(layer)`), as a PNG and each epoch in
    TensorBoard (once, if `fixed`)."""

    def plot(layer, length=None, trained_length=None):
        return draw(layer)

    def summaries(layer, length, epoch):
        return [Summary(f"{tag}/{name}", "image", draw(layer), fixed=fixed)]

    return FamilyView(plots={plot_name: plot}, summaries=summaries)


def _grid_similarity_view(name, fixed):
    def draw(layer):
        return viz.plot_grid_similarity(_grid_table(layer), name)

    return _grid_view(name, "grid_similarity", "position_similarity", draw, fixed)


def _grid_rotary_view(name, fixed):
    def draw(layer):
        return viz.plot_grid_rotary(*_grid_rotary_frequencies(layer), f"{name}: frequencies")

    return _grid_view(name, "grid_rotary", "rotary_frequencies", draw, fixed)


for _name, _view in {
    "sinusoidal": _table_view(_sinusoidal_table, "sinusoidal", learned=False),
    "learned": _table_view(_learned_table, "learned", learned=True),
    "rotary": _rotary_view(),
    "alibi": _bias_view("alibi", "ALiBi bias (fixed slopes)"),
    "t5": _bias_view("t5", "T5 bias (learned)"),
    "kerple": _bias_view("kerple", "KERPLE bias (learned)"),
    "fire": _bias_view("fire", "FIRE bias (learned)"),
    "sinusoidal_2d": _grid_similarity_view("sinusoidal_2d", fixed=True),
    "learned_2d": _grid_similarity_view("learned_2d", fixed=False),
    "rotary_2d": _grid_rotary_view("rotary_2d", fixed=True),
    "rotary_mixed": _grid_rotary_view("rotary_mixed", fixed=False),
}.items():
    register_view(_name, _view)
