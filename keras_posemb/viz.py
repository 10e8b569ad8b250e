"""Analysis and plots of position tables (NumPy and matplotlib).

The analysis functions return the arrays the plots show, so they can be
tested on their own; the plot functions return matplotlib figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_posemb import files, sinusoid
from keras_posemb.layers import (
    AlibiBias,
    PositionalAttention,
    PositionEmbedding,
    RelativePositionBias,
    SinusoidalEncoding,
)
from keras_posemb.layers._attention_bias import MASKED_LOGIT
from keras_posemb.models import POSITION_LAYER_NAME
from keras_posemb.run import PLOT_NAMES


def find_position_layer(model):
    """The model's absolute position layer (named `POSITION_LAYER_NAME`), or `None`."""
    return next((layer for layer in model.layers if layer.name == POSITION_LAYER_NAME), None)


def find_relative_attention(model):
    """The model's first `PositionalAttention` with relative positions, or `None`."""
    layers = [layer for layer in model.layers if isinstance(layer, PositionalAttention)]
    return next((layer for layer in layers if layer.position != "none"), None)


def position_kind(model) -> str:
    """How a classifier encodes positions: one of `models.POSITIONS`."""
    layer = find_position_layer(model)
    if isinstance(layer, PositionEmbedding):
        return "learned"
    if isinstance(layer, SinusoidalEncoding):
        return "sinusoidal"
    attention = find_relative_attention(model)
    return attention.position if attention is not None else "none"


def bias_by_offset(model, max_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The ALiBi or T5 bias of the first attention layer, by offset.

    Returns:
        `(offsets, bias)`: offsets `key - query` from `-max_offset` to
        `max_offset`, and the bias of each head, `(heads, offsets)`; NaN
        on the side a split ALiBi head does not look at (so plots skip it).

    Raises:
        ValueError: if the model has no ALiBi or T5 bias.
    """
    attention = find_relative_attention(model)
    if attention is None or not isinstance(attention.bias, (AlibiBias, RelativePositionBias)):
        raise ValueError(f"Model {model.name!r} has no ALiBi or T5 attention bias.")
    from keras import ops

    query = ops.convert_to_tensor([max_offset], "int32")
    keys = ops.arange(2 * max_offset + 1, dtype="int32")
    bias = np.asarray(ops.convert_to_numpy(attention.bias.bias(query, keys)), np.float64)
    bias[bias <= MASKED_LOGIT] = np.nan
    return np.arange(-max_offset, max_offset + 1), bias[:, 0, :]


def rotary_wavelengths(model) -> np.ndarray:
    """Positions per full turn of each rotary feature pair of the first attention layer."""
    from keras_posemb.layers.rotary_embedding import rotary_frequencies

    attention = find_relative_attention(model)
    if attention is None or attention.rotary is None:
        raise ValueError(f"Model {model.name!r} has no rotary attention.")
    rotary = attention.rotary
    frequencies = rotary_frequencies(rotary.width, rotary.max_wavelength, rotary.scaling_factor)
    return 2 * np.pi / frequencies


def position_table(model, length: int | None = None) -> tuple[str, np.ndarray]:
    """The position table of a classifier built by `build_text_classifier`.

    Returns:
        `(kind, table)`: kind is `"learned"` or `"sinusoidal"`, table a
        float64 array `(length, width)`; `length` defaults to the learned
        table's length (and is required for a sinusoidal encoding).

    Raises:
        ValueError: if the model has no position table.
    """
    layer = find_position_layer(model)
    if isinstance(layer, PositionEmbedding):
        table = np.asarray(layer.get_weights()[0], np.float64)
        return "learned", table[:length] if length else table
    if isinstance(layer, SinusoidalEncoding):
        if length is None:
            raise ValueError("Argument `length` is required for a sinusoidal encoding.")
        table = sinusoid.sinusoidal_table(length, layer.width, layer.max_wavelength, layer.layout)
        return "sinusoidal", table
    raise ValueError(
        f"Model {model.name!r} has no position table: no layer named "
        f"{POSITION_LAYER_NAME!r} (was it built with position='none'?)."
    )


def cosine_similarity(table):
    """Cosine similarity between every pair of rows: `(n, n)`."""
    table = np.asarray(table, np.float64)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    unit = table / np.where(norms == 0, 1, norms)
    return unit @ unit.T


def pca_2d(table):
    """Rows projected on their first two principal components: `(n, 2)`."""
    centered = np.asarray(table, np.float64) - np.mean(table, axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    return centered @ components[:2].T


def similarity_by_offset(table):
    """Mean cosine similarity of positions `p` and `p + k`, over all `p`.

    Returns:
        Array `(n,)`, entry `k` for offset `k`.
    """
    similarity = cosine_similarity(table)
    return np.array([np.mean(np.diagonal(similarity, offset=k)) for k in range(len(table))])


def spectrum(table):
    """Amplitude spectrum of each dimension over positions.

    Returns:
        `(frequencies, amplitudes)`: angular frequencies in radians per
        position, shape `(n // 2 + 1,)`, and amplitudes `(n // 2 + 1, width)`
        of the mean-removed columns (a column `a sin(w p)` with `w` on the
        grid `2 pi k / n` gives amplitude `a / 2` at `w`).
    """
    table = np.asarray(table, np.float64)
    centered = table - table.mean(axis=0)
    amplitudes = np.abs(np.fft.rfft(centered, axis=0)) / len(table)
    return 2 * np.pi * np.fft.rfftfreq(len(table)), amplitudes


def figure_to_image(figure, dpi: int = 80) -> np.ndarray:
    """A matplotlib figure as an RGB uint8 array `(height, width, 3)`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _figure(columns, size=(5.5, 4.5)):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] * columns, size[1]), layout="constrained")
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def plot_tables(tables):
    """Heatmaps (position x dimension) of `{title: table}` side by side."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        image = ax.imshow(table, aspect="auto", cmap="RdBu_r", interpolation="nearest")
        ax.set(title=title, xlabel="dimension", ylabel="position")
        figure.colorbar(image, ax=ax, label="value")
    return figure


def plot_similarity(tables):
    """Cosine similarity between positions for each of `{title: table}`."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        image = ax.imshow(cosine_similarity(table), cmap="viridis", vmin=-1, vmax=1)
        ax.set(title=f"{title}: cosine similarity", xlabel="position", ylabel="position")
        figure.colorbar(image, ax=ax, label="cosine similarity")
    return figure


def plot_pca(tables):
    """2-D PCA trajectory of the positions, coloured by index."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        points = pca_2d(table)
        ax.plot(points[:, 0], points[:, 1], color="lightgrey", linewidth=0.8, zorder=1)
        dots = ax.scatter(
            points[:, 0], points[:, 1], c=np.arange(len(points)), cmap="viridis", s=14, zorder=2
        )
        ax.set(title=f"{title}: PCA of positions", xlabel="component 1", ylabel="component 2")
        figure.colorbar(dots, ax=ax, label="position")
    return figure


def plot_offset_similarity(tables):
    """Similarity against offset, one line per table, on one axis."""
    figure, (ax,) = _figure(1, size=(6.5, 4.2))
    for title, table in tables.items():
        ax.plot(similarity_by_offset(table), label=title)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set(
        title="Similarity of positions p and p + k, averaged over p",
        xlabel="offset k",
        ylabel="mean cosine similarity",
    )
    ax.legend()
    return figure


def plot_spectrum(tables, frequencies_by_title=None):
    """Spectrum of each dimension over positions, per table.

    Args:
        tables: `{title: table}`.
        frequencies_by_title: optional `{title: channel frequencies}` drawn
            as dots: where a sinusoidal table's energy lies by construction.
    """
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        frequencies, amplitudes = spectrum(table)
        image = ax.imshow(
            amplitudes,
            aspect="auto",
            origin="lower",
            cmap="magma",
            extent=(-0.5, table.shape[1] - 0.5, 0, frequencies[-1]),
        )
        if frequencies_by_title and title in frequencies_by_title:
            channel_frequencies = frequencies_by_title[title]
            ax.scatter(
                np.arange(len(channel_frequencies)),
                channel_frequencies,
                s=8,
                color="cyan",
                label="sinusoid frequency",
            )
            ax.legend(loc="upper right", fontsize=8)
        ax.set(
            title=f"{title}: spectrum over positions",
            xlabel="dimension",
            ylabel="frequency (radians per position)",
        )
        figure.colorbar(image, ax=ax, label="amplitude")
    return figure


def plot_bias_by_offset(offsets, bias, title):
    """One curve per head: the attention bias against the offset `key - query`."""
    figure, (ax,) = _figure(1, size=(6.5, 4.2))
    for head, curve in enumerate(bias):
        ax.plot(offsets, curve, label=f"head {head}", linewidth=1.2)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set(title=title, xlabel="offset key - query (positions)", ylabel="bias added to the logit")
    ax.legend(fontsize=7, ncol=2)
    return figure


def plot_rotary(wavelengths, max_offset=64):
    """Wavelength of each feature pair, and cos(offset * angle) that a
    query-key pair at that offset gets from it."""
    figure, (left, right) = _figure(2)
    left.semilogy(np.arange(len(wavelengths)), wavelengths, marker="o", markersize=3)
    left.set(
        title="rotary: wavelength per feature pair", xlabel="pair i", ylabel="positions per turn"
    )
    offsets = np.arange(max_offset + 1)
    image = right.imshow(
        np.cos(np.outer(offsets, 2 * np.pi / wavelengths)),
        aspect="auto",
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        origin="lower",
    )
    right.set(title="cos(offset x angle) per pair", xlabel="pair i", ylabel="offset (positions)")
    figure.colorbar(image, ax=right, label="cosine")
    return figure


def model_tables(model, length=None):
    """`{title: table}` to plot for a classifier, and whether it is learned.

    A learned table comes with the sinusoidal table of the same shape; a
    sinusoidal encoding comes alone (nothing learned to compare).
    """
    kind, table = position_table(model, length)
    if kind == "sinusoidal":
        return {"sinusoidal (model)": table}, False
    return {
        "learned (model)": table,
        "sinusoidal (same shape)": sinusoid.sinusoidal_table(*table.shape),
    }, True


def write_position_plots(model, output_dir, length: int | None = None) -> tuple[list[str], bool]:
    """Writes the PNGs of a classifier's position information to `output_dir`.

    An absolute table: heatmaps, cosine similarity, similarity by offset,
    PCA trajectory and spectrum. ALiBi and T5: the bias by offset per head.
    Rotary: the wavelength per feature pair. Files are named as in a run
    directory (`run.PLOT_NAMES`). Raises `ValueError` when the model has no
    position information.

    Returns:
        `(paths, learned)`: the files written, and whether what they show
        was learned (a learned table or a T5 bias).
    """
    kind = position_kind(model)
    if kind in ("alibi", "t5"):
        offsets, bias = bias_by_offset(model, length or 64)
        title = "T5 bias (learned)" if kind == "t5" else "ALiBi bias (fixed slopes)"
        plots = {"bias_by_offset": plot_bias_by_offset(offsets, bias, f"{title}, first block")}
    elif kind == "rotary":
        plots = {"rotary": plot_rotary(rotary_wavelengths(model), length or 64)}
    else:
        plots = _table_plots(model, length)
    paths = []
    for name, figure in plots.items():
        paths.append(str(Path(output_dir) / PLOT_NAMES[name]))
        files.atomic_save_figure(figure, paths[-1])
    return paths, kind in ("learned", "t5")


def _table_plots(model, length):
    tables, _ = model_tables(model, length)
    sinusoid_frequencies = {
        title: sinusoid.channel_frequencies_and_phases(table.shape[1])[0]
        for title, table in tables.items()
        if title.startswith("sinusoidal")
    }
    return {
        "heatmaps": plot_tables(tables),
        "similarity": plot_similarity(tables),
        "offset_similarity": plot_offset_similarity(tables),
        "pca": plot_pca(tables),
        "spectrum": plot_spectrum(tables, sinusoid_frequencies),
    }
