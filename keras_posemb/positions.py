"""The position families: one registry entry each, and the one place that knows them.

A family says where its positions go (added to the token embeddings, or
inside attention), builds its layer from a model's settings, checks those
settings, and provides its plots and TensorBoard summaries. The classifier
builder, the trainer's `--position` flag, the comparison, the plots and the
summaries all read this table; adding a family is one `register` call.

    from keras_posemb import positions
    positions.register(positions.PositionFamily(
        name="my_rotary", where="attention", description="rotary, base 500",
        make_layer=lambda settings, **kwargs: RotaryEmbedding(500, **kwargs),
        layer_class=RotaryEmbedding,
    ))
    build_text_classifier(..., position="my_rotary")

A model's family is found by the class of its position layer
(`find_position`): the first registered family whose `layer_class` it is.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from keras_posemb import sinusoid, viz
from keras_posemb._args import check_choice
from keras_posemb.errors import argument_error
from keras_posemb.layers import (
    AlibiBias,
    PositionalAttention,
    PositionEmbedding,
    PositionEmbedding2D,
    RelativePositionBias,
    RotaryEmbedding,
    RotaryEmbedding2D,
    SinusoidalEncoding,
    SinusoidalEncoding2D,
    rotary_embedding_2d,
)

# "embeddings": a layer added to the token embeddings, once per model;
# "attention": a layer inside every attention layer (`PositionalAttention`);
# "none": no position information.
WHERE = ("embeddings", "attention", "none")
# The name of a classifier's embeddings position layer.
POSITION_LAYER_NAME = "position_encoding"


@dataclasses.dataclass(frozen=True)
class PositionSettings:
    """What a family may need of the model it goes into."""

    embed_dim: int = 64
    num_heads: int = 4
    max_length: int = 64
    bidirectional: bool = True
    # An image model's grid of patches and its tokens before the patches.
    grid_size: tuple[int, int] | None = None
    num_prefix_tokens: int = 0

    @property
    def key_dim(self) -> int:
        return self.embed_dim // self.num_heads


class Summary(NamedTuple):
    """One TensorBoard summary: `kind` is "image" (a matplotlib figure) or
    "histogram" (an array); `fixed` ones are the same every epoch and are
    written once per process."""

    tag: str
    kind: str
    value: Any
    fixed: bool = False


# (position layer, number of positions or offsets) -> a figure / a table.
LayerPlot = Callable[[Any, int | None], Any]


@dataclasses.dataclass(frozen=True)
class PositionFamily:
    """One position family.

    Args:
        name: the `position=` name (and the trainer's `--position` choice).
        where: one of `WHERE`.
        description: one line for help texts.
        make_layer: `(PositionSettings, **layer_kwargs) -> layer`: for
            "embeddings", the layer applied to the token embeddings; for
            "attention", a layer with `attention_role` "logits" (an
            `AttentionBias`) or "queries_and_keys" (such as
            `RotaryEmbedding`), made anew for every attention layer.
        layer_class: the class `make_layer` returns: how a model's family
            is found again.
        learned: whether the family's layer has trained weights.
        table: `(layer, length) -> (length, width)` array, for families
            with a position table (projector files, table plots).
        plots: `{name: (layer, length, trained_length) -> figure}`; each is
            written as `run.plot_file_name(name)`. `trained_length` is the
            longest sequence the model was trained on, or `None` if unknown:
            rows of a learned table past it were never trained.
        summaries: `(layer, length, epoch) -> [Summary, ...]`.
        grid: whether the family encodes a 2-D grid of image patches (and
            so needs `PositionSettings.grid_size`); sequence tools list
            only the other families (`names()`).
        matches: for families that share a `layer_class`, whether a layer
            of that class is this family's (a family with `matches` is
            preferred to one without, which takes any layer of the class).
        variant_of: the family this one varies (the same layer and
            weights, other settings), or `None`; variants are listed by
            `names(include_variants=True)` only, so that comparisons keep
            one row per family.
    """

    name: str
    where: str
    description: str
    make_layer: Callable[..., Any] | None = None
    layer_class: type | None = None
    learned: bool = False
    table: LayerPlot | None = None
    plots: Mapping[str, LayerPlot] = dataclasses.field(default_factory=dict)
    summaries: Callable[[Any, int, int], list[Summary]] | None = None
    grid: bool = False
    matches: Callable[[Any], bool] | None = None
    variant_of: str | None = None

    def __post_init__(self):
        check_choice("where", self.where, WHERE)
        if not self.name or not isinstance(self.name, str) or "," in self.name:
            raise argument_error("name", self.name, "a non-empty string without commas")
        if (self.where == "none") != (self.make_layer is None):
            raise argument_error(
                "make_layer",
                self.make_layer,
                f"None exactly when where='none' (where={self.where!r})",
            )

    def check(self, settings: PositionSettings) -> None:
        """Raises `ArgumentError` for settings this family cannot take: its
        layer is made (so its own arguments are checked) and, inside
        attention, asked whether it serves these heads."""
        if self.grid and settings.grid_size is None:
            raise argument_error(
                "position",
                self.name,
                "a sequence family: this one encodes a grid of image patches "
                "(build_image_classifier takes it)",
            )
        if self.make_layer is None:
            return
        layer = self.make_layer(settings)
        if self.where == "attention":
            check_attention_position(layer, settings.num_heads, settings.key_dim)


_FAMILIES: dict[str, PositionFamily] = {}


def register(family: PositionFamily) -> PositionFamily:
    """Adds `family`; its name must be new (see `unregister`)."""
    if family.name in _FAMILIES:
        raise argument_error("name", family.name, "a name not registered yet")
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    get(name)
    del _FAMILIES[name]


def names(include_grid: bool = False, include_variants: bool = False) -> tuple[str, ...]:
    """The registered families' names, in registration order: the sequence
    families, with `include_grid` the grid (image) families too, and with
    `include_variants` the variants of others (such as `rotary_yarn`)."""
    return tuple(
        name
        for name, family in _FAMILIES.items()
        if (include_grid or not family.grid) and (include_variants or family.variant_of is None)
    )


def families() -> Mapping[str, PositionFamily]:
    return MappingProxyType(_FAMILIES)


def get(name: str) -> PositionFamily:
    """The family called `name`; `ArgumentError` naming `position` otherwise."""
    if not isinstance(name, str) or name not in _FAMILIES:
        everything = names(include_grid=True, include_variants=True)
        raise argument_error("position", name, f"one of {everything}")
    return _FAMILIES[name]


def plot_names() -> tuple[str, ...]:
    """The names of every family's plots."""
    return tuple(dict.fromkeys(name for f in _FAMILIES.values() for name in f.plots))


ATTENTION_ROLES = ("queries_and_keys", "logits")


def check_attention_position(layer: Any, num_heads: int, key_dim: int) -> None:
    """Checks that `layer` can be a position layer of attention with these heads."""
    role = getattr(layer, "attention_role", None)
    if role not in ATTENTION_ROLES:
        raise argument_error(
            "position",
            layer,
            "a position layer for attention: an `attention_role` of 'logits' (an AttentionBias "
            "such as AlibiBias) or 'queries_and_keys' (such as RotaryEmbedding)",
        )
    layer.check_attention(num_heads, key_dim)


def _layers(model) -> Iterator[Any]:
    """Every layer of `model`, nested models and attention position layers included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)
        attention = getattr(layer, "attention", layer)  # A DecoderBlock's, or itself.
        if isinstance(attention, PositionalAttention):
            yield from attention.position_layers


def find_position(model: Any) -> tuple[PositionFamily, Any]:
    """`(family, layer)` of a model's first position layer, or `(get("none"), None)`."""
    for layer in _layers(model):
        candidates = [
            family
            for family in _FAMILIES.values()
            if family.layer_class is not None and isinstance(layer, family.layer_class)
        ]
        for family in sorted(candidates, key=lambda family: family.matches is None):
            if family.matches is None or family.matches(layer):
                return family, layer
    return get("none"), None


def position_table(model: Any, length: int | None = None) -> tuple[str, np.ndarray]:
    """`(family name, float64 table (length, width))` of a model's position table.

    Raises:
        ValueError: if the model's positions have no table.
    """
    family, layer = find_position(model)
    if family.table is None:
        raise ValueError(
            f"Model {model.name!r} has no position table (its positions: {family.name!r})."
        )
    return family.name, family.table(layer, length)


def write_position_plots(
    model: Any,
    output_dir: str | os.PathLike,
    length: int | None = None,
    trained_length: int | None = None,
) -> tuple[list[str], bool]:
    """Writes the PNGs of a model's position family to `output_dir`;
    `trained_length`, if known, is the longest sequence it was trained on.

    Returns:
        `(paths, learned)`: the files written (`run.plot_file_name`), and
        whether what they show was learned.

    Raises:
        ValueError: when the model has no position information.
    """
    from pathlib import Path

    from keras_posemb import files
    from keras_posemb.run import plot_file_name

    family, layer = find_position(model)
    if not family.plots:
        raise ValueError(f"Model {model.name!r} has no position information to plot.")
    paths = []
    for name, plot in family.plots.items():
        paths.append(str(Path(output_dir) / plot_file_name(name)))
        figure = plot(layer, length, trained_length)
        if not family.learned:
            viz.mark_fixed(figure)
        files.atomic_save_figure(figure, paths[-1])
    return paths, family.learned


# The built-in families: their tables, plots and summaries.


def _sinusoidal_table(layer, length):
    if length is None:
        raise ValueError("Argument `length` is required for a sinusoidal encoding.")
    return sinusoid.sinusoidal_table(length, layer.width, layer.max_wavelength, layer.layout)


def _learned_table(layer, length):
    table = np.asarray(layer.get_weights()[0], np.float64)
    return table[:length] if length else table


def _table_plots(table, title, learned):
    """The five table plots; a learned table is drawn next to the sinusoidal
    table of the same shape, with the end of its trained rows marked; a
    sinusoidal one alone."""

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

    return {
        "heatmaps": heatmaps,
        "similarity": similarity,
        "offset_similarity": lambda layer, length, trained_length: viz.plot_offset_similarity(
            tables(layer, length)
        ),
        "pca": lambda layer, length, trained_length: viz.plot_pca(tables(layer, length)),
        "spectrum": spectrum,
    }


def table_summaries(name: str, table: np.ndarray) -> list[Summary]:
    """A table's histogram `position_table/<name>` and its cosine-similarity
    image `position_similarity/<name>`."""
    return [
        Summary(f"position_table/{name}", "histogram", table),
        Summary(f"position_similarity/{name}", "image", viz.plot_similarity({name: table})),
    ]


def _table_summaries(name, table):
    return lambda layer, length, epoch: table_summaries(name, table(layer, length))


_BIAS_TITLES = {"alibi": "ALiBi bias (fixed slopes)", "t5": "T5 bias (learned)"}


def _bias_plot(name):
    def plot(layer, length, trained_length=None):
        offsets, bias = viz.bias_by_offset(layer, length or 64)
        return viz.plot_bias_by_offset(offsets, bias, f"{_BIAS_TITLES[name]}, first block")

    return plot


def _bias_summaries(name):
    def summaries(layer, length, epoch):
        offsets, bias = viz.bias_by_offset(layer, length)
        title = f"{name} bias, first block, epoch {epoch + 1}"
        found = [
            Summary(f"position_bias/{name}", "image", viz.plot_bias_by_offset(offsets, bias, title))
        ]
        if layer.weights:
            found.append(Summary(f"position_bias/{name}", "histogram", layer.get_weights()[0]))
        return found

    return summaries


def _rotary_plot(layer, length, trained_length=None):
    return viz.plot_rotary(viz.rotary_wavelengths(layer), length or 64)


def _rotary_summaries(layer, length, epoch):
    image = viz.plot_rotary(viz.rotary_wavelengths(layer), length)
    return [Summary("rotary_wavelengths", "image", image, fixed=True)]


def _alibi_layer(settings, **kwargs):
    # float32 like the logits it is added to, also under mixed precision.
    kwargs.setdefault("dtype", "float32")
    kwargs.setdefault("split_heads", settings.bidirectional)
    return AlibiBias(bidirectional=settings.bidirectional, **kwargs)


def _t5_layer(settings, **kwargs):
    kwargs.setdefault("dtype", "float32")
    return RelativePositionBias(settings.num_heads, bidirectional=settings.bidirectional, **kwargs)


register(
    PositionFamily(
        name="sinusoidal",
        where="embeddings",
        description="fixed sines and cosines added to the token embeddings (Vaswani et al.)",
        make_layer=lambda settings, **kwargs: SinusoidalEncoding(**kwargs),
        layer_class=SinusoidalEncoding,
        table=_sinusoidal_table,
        plots=_table_plots(_sinusoidal_table, "sinusoidal", learned=False),
        summaries=_table_summaries("sinusoidal", _sinusoidal_table),
    )
)
register(
    PositionFamily(
        name="learned",
        where="embeddings",
        description="one trained vector per position, added to the token embeddings (BERT)",
        make_layer=lambda settings, **kwargs: PositionEmbedding(settings.max_length, **kwargs),
        layer_class=PositionEmbedding,
        learned=True,
        table=_learned_table,
        plots=_table_plots(_learned_table, "learned", learned=True),
        summaries=_table_summaries("learned", _learned_table),
    )
)
register(
    PositionFamily(
        name="rotary",
        where="attention",
        description="queries and keys rotated by position inside attention (RoPE)",
        make_layer=lambda settings, **kwargs: RotaryEmbedding(**kwargs),
        layer_class=RotaryEmbedding,
        plots={"rotary": _rotary_plot},
        summaries=_rotary_summaries,
    )
)
register(
    PositionFamily(
        name="alibi",
        where="attention",
        description="a distance penalty per head on the attention logits (ALiBi)",
        make_layer=_alibi_layer,
        layer_class=AlibiBias,
        plots={"bias_by_offset": _bias_plot("alibi")},
        summaries=_bias_summaries("alibi"),
    )
)
register(
    PositionFamily(
        name="t5",
        where="attention",
        description="a learned bias per head and offset bucket on the attention logits (T5)",
        make_layer=_t5_layer,
        layer_class=RelativePositionBias,
        learned=True,
        plots={"bias_by_offset": _bias_plot("t5")},
        summaries=_bias_summaries("t5"),
    )
)
register(PositionFamily(name="none", where="none", description="no position information"))


# Rotary extended beyond the model's `max_length` (L0) by a context extension
# with factor length / L0 (`rope_scaling`'s dynamic variants): below L0 the
# same rotation as `rotary`, so the same training; {family: (rope_type, what)}.
ROTARY_EXTENSIONS = {
    "rotary_linear": ("dynamic_linear", "position interpolation (Chen et al.)"),
    "rotary_ntk": ("dynamic", "NTK-aware scaling (dynamic NTK)"),
    "rotary_yarn": ("dynamic_yarn", "YaRN (Peng et al.)"),
    "rotary_llama3": ("dynamic_llama3", "Llama 3.1's frequency-dependent scaling"),
}


def _extension_scaling(rope_type, original_length):
    scaling = {"rope_type": rope_type, "original_max_position_embeddings": original_length}
    if rope_type == "dynamic":  # Hugging Face's: its factor 1 makes the scale length / L0.
        scaling["factor"] = 1.0
    return scaling


def _register_rotary_extension(name):
    rope_type, what = ROTARY_EXTENSIONS[name]

    def make_layer(settings, **kwargs):
        return RotaryEmbedding(
            rope_scaling=_extension_scaling(rope_type, settings.max_length), **kwargs
        )

    def matches(layer):
        scaling = layer.rope_scaling or {}
        wanted = _extension_scaling(rope_type, scaling.get("original_max_position_embeddings"))
        return all(scaling.get(key) == value for key, value in wanted.items())

    register(
        PositionFamily(
            name=name,
            where="attention",
            description=f"rotary; beyond max_length, {what} sized to the sequence",
            make_layer=make_layer,
            layer_class=RotaryEmbedding,
            plots={"rotary": _rotary_plot},
            summaries=_rotary_summaries,
            matches=matches,
            variant_of="rotary",
        )
    )


for _name in ROTARY_EXTENSIONS:
    _register_rotary_extension(_name)


# Grid families, for image patches.


def _grid_arguments(settings):
    return {"grid_size": settings.grid_size, "num_prefix_tokens": settings.num_prefix_tokens}


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
    frequencies = rotary_embedding_2d.axis_frequencies(layer.width, layer.base)
    zeros = np.zeros_like(frequencies)
    return np.concatenate([frequencies, zeros]), np.concatenate([zeros, frequencies])


def _grid_plots(name):
    def similarity(layer, length=None, trained_length=None):
        return viz.plot_grid_similarity(_grid_table(layer), name)

    def rotary(layer, length=None, trained_length=None):
        return viz.plot_grid_rotary(*_grid_rotary_frequencies(layer), f"{name}: frequencies")

    plot = rotary if name.startswith("rotary") else similarity
    tag = "rotary_frequencies" if name.startswith("rotary") else "position_similarity"
    fixed = name in ("sinusoidal_2d", "rotary_2d")

    def summaries(layer, length, epoch):
        return [Summary(f"{tag}/{name}", "image", plot(layer), fixed=fixed)]

    plot_name = "grid_rotary" if name.startswith("rotary") else "grid_similarity"
    return {"plots": {plot_name: plot}, "summaries": summaries}


register(
    PositionFamily(
        name="sinusoidal_2d",
        **_grid_plots("sinusoidal_2d"),
        where="embeddings",
        description="fixed sines and cosines of the row and the column, added to the patches (MAE)",
        make_layer=lambda settings, **kwargs: SinusoidalEncoding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=SinusoidalEncoding2D,
        grid=True,
    )
)
register(
    PositionFamily(
        name="learned_2d",
        **_grid_plots("learned_2d"),
        where="embeddings",
        description="one trained vector per patch of the grid, resampled for other grids (ViT)",
        make_layer=lambda settings, **kwargs: PositionEmbedding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=PositionEmbedding2D,
        learned=True,
        grid=True,
    )
)
register(
    PositionFamily(
        name="rotary_2d",
        **_grid_plots("rotary_2d"),
        where="attention",
        description="queries and keys rotated by row and by column inside attention (RoPE-Axial)",
        make_layer=lambda settings, **kwargs: RotaryEmbedding2D(
            **_grid_arguments(settings), **kwargs
        ),
        layer_class=RotaryEmbedding2D,
        grid=True,
        matches=lambda layer: not layer.mixed,
    )
)
register(
    PositionFamily(
        name="rotary_mixed",
        **_grid_plots("rotary_mixed"),
        where="attention",
        description="queries and keys rotated by learned mixes of row and column (RoPE-Mixed)",
        make_layer=lambda settings, **kwargs: RotaryEmbedding2D(
            **_grid_arguments(settings), mixed=True, **kwargs
        ),
        layer_class=RotaryEmbedding2D,
        learned=True,
        grid=True,
        matches=lambda layer: layer.mixed,
    )
)
