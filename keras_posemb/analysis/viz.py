"""Analysis and plots of position tables and biases (NumPy and matplotlib).

The analysis functions return the arrays the plots show, so they can be
tested on their own; the plot functions return matplotlib figures. Which
plots a model gets is its position family's view (`analysis.plots`).
"""

from __future__ import annotations

import numpy as np

from keras_posemb import _backend
from keras_posemb.layers._attention_bias import MASKED_LOGIT

# The most positions a drawing shows along one axis: longer tables are drawn
# at evenly spaced positions, so a 262,144-row table costs what 512 rows do
# (a full similarity matrix of it would take 550 GB).
MAX_DRAWN = 512


def drawn_positions(length: int, limit: int = MAX_DRAWN) -> np.ndarray:
    """`limit` evenly spaced positions of `0 .. length - 1` (all of them if fewer)."""
    if length <= limit:
        return np.arange(length)
    return np.unique(np.round(np.linspace(0, length - 1, limit)).astype(np.int64))


def bias_by_offset(bias_layer, max_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """An attention-bias layer's bias (ALiBi, T5, any `AttentionBias`) by offset.

    Returns:
        `(offsets, bias)`: offsets `key - query` from `-max_offset` to
        `max_offset`, and the bias of each head, `(heads, offsets)`; NaN
        where a key is masked (the side a split ALiBi head does not look
        at), so plots skip it.
    """
    from keras import ops

    query = ops.convert_to_tensor([max_offset], "int32")
    keys = ops.arange(2 * max_offset + 1, dtype="int32")
    bias = np.asarray(ops.convert_to_numpy(bias_layer.bias(query, keys)), np.float64)
    bias[bias <= MASKED_LOGIT] = np.nan
    return np.arange(-max_offset, max_offset + 1), bias[:, 0, :]


def rotary_wavelengths(rotary) -> np.ndarray:
    """Positions per full turn of each rotated pair of a built `RotaryEmbedding`."""
    return 2 * np.pi / rotary.frequencies()[0]


def cosine_similarity(table):
    """Cosine similarity between every pair of rows: `(n, n)`."""
    unit = _unit_rows(table)
    return unit @ unit.T


def pca_2d(table):
    """Rows projected on their first two principal components: `(n, 2)`."""
    centered = np.asarray(table, np.float64) - np.mean(table, axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    return centered @ components[:2].T


def _unit_rows(table):
    table = np.asarray(table, np.float64)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return table / np.where(norms == 0, 1, norms)


def similarity_by_offset(table):
    """Mean cosine similarity of positions `p` and `p + k`, over all `p`.

    Computed as the autocorrelation of the unit rows (FFT), so memory grows
    with the table, not with its square.

    Returns:
        Array `(n,)`, entry `k` for offset `k`.
    """
    unit = _unit_rows(table)
    length = len(unit)
    size = 1 << (2 * length - 1).bit_length()  # No wrap-around: zero padding.
    spectra = np.fft.rfft(unit, n=size, axis=0)
    sums = np.fft.irfft(np.abs(spectra) ** 2, n=size, axis=0)[:length].sum(axis=1)
    return sums / (length - np.arange(length))


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


def figure_class():
    """matplotlib's `Figure`; `DependencyError` if matplotlib is not installed."""
    _backend.require("matplotlib", "Drawing plots")
    from matplotlib.figure import Figure

    return Figure


def figure_to_image(figure, dpi: int = 80) -> np.ndarray:
    """A matplotlib figure as an RGB uint8 array `(height, width, 3)`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _figure(columns, size=(5.5, 4.5)):
    Figure = figure_class()

    figure = Figure(figsize=(size[0] * columns, size[1]), layout="constrained")
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _position_extent(length):
    """imshow's extent along a position axis: labels are real positions also
    when only `drawn_positions` are drawn."""
    return (-0.5, length - 0.5)


def _mark_trained_rows(ax, trained, both_axes=False):
    """A dashed line after the last position training reached, labelled."""
    ax.axhline(trained - 0.5, color="black", linestyle="--", linewidth=1)
    if both_axes:
        ax.axvline(trained - 0.5, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"trained: positions 0-{trained - 1}", xy=(0.02, 0.02), xycoords="axes fraction",
        fontsize=8, backgroundcolor="white",
    )  # fmt: skip


def plot_tables(tables, trained_rows=None):
    """Heatmaps (position x dimension) of `{title: table}` side by side;
    `trained_rows` (`{title: n}`) marks where training ended in a table."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        rows = drawn_positions(len(table))
        top, bottom = _position_extent(len(table))
        image = ax.imshow(
            np.asarray(table)[rows], aspect="auto", cmap="RdBu_r", interpolation="nearest",
            extent=(-0.5, table.shape[1] - 0.5, bottom, top),
        )  # fmt: skip
        ax.set(title=title, xlabel="dimension", ylabel="position")
        figure.colorbar(image, ax=ax, label="value")
        if title in (trained_rows or {}):
            _mark_trained_rows(ax, trained_rows[title])
    return figure


def plot_similarity(tables, trained_rows=None):
    """Cosine similarity between positions for each of `{title: table}`
    (at `drawn_positions` of long tables); `trained_rows` as in `plot_tables`."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        rows = drawn_positions(len(table))
        low, high = _position_extent(len(table))
        image = ax.imshow(
            cosine_similarity(np.asarray(table)[rows]), cmap="viridis", vmin=-1, vmax=1,
            extent=(low, high, high, low),
        )  # fmt: skip
        ax.set(title=f"{title}: cosine similarity", xlabel="position", ylabel="position")
        figure.colorbar(image, ax=ax, label="cosine similarity")
        if title in (trained_rows or {}):
            _mark_trained_rows(ax, trained_rows[title], both_axes=True)
    return figure


def plot_pca(tables):
    """2-D PCA trajectory of the positions, coloured by index."""
    figure, axes = _figure(len(tables))
    for ax, (title, table) in zip(axes, tables.items()):
        rows = drawn_positions(len(table), limit=4 * MAX_DRAWN)
        points = pca_2d(table)[rows]
        ax.plot(points[:, 0], points[:, 1], color="lightgrey", linewidth=0.8, zorder=1)
        dots = ax.scatter(points[:, 0], points[:, 1], c=rows, cmap="viridis", s=14, zorder=2)
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
    """The attention bias of each head against the offset `key - query`: a
    heatmap of head x offset (masked keys blank), and one small panel per
    head, so that no curve hides another."""
    Figure = figure_class()

    heads = len(bias)
    figure = Figure(figsize=(8, 2.2 + 1.1 * heads), layout="constrained")
    grid = figure.add_gridspec(heads + 2, 1)
    top = figure.add_subplot(grid[:2, 0])
    image = top.imshow(
        np.ma.masked_invalid(bias), aspect="auto", cmap="viridis", interpolation="nearest",
        extent=(offsets[0] - 0.5, offsets[-1] + 0.5, heads - 0.5, -0.5),
    )  # fmt: skip
    top.set(title=title, ylabel="head", yticks=range(heads))
    figure.colorbar(image, ax=top, label="bias")
    for head, curve in enumerate(bias):
        ax = figure.add_subplot(grid[head + 2, 0], sharex=top)
        ax.plot(offsets, curve, color=f"C{head}", linewidth=1.2)
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.set_ylabel(f"head {head}", fontsize=8)
        ax.tick_params(labelsize=7)
    ax.set_xlabel("offset key - query (positions)")
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


def grid_similarity_mosaic(table) -> np.ndarray:
    """ViT's figure 7 as one array: for a `(rows, cols, d)` table, tile
    `(i, j)` is the cosine similarity of patch `(i, j)` to every patch,
    `(rows, cols)`; tiles are separated by one row/column of NaN.
    Shape `(rows * (rows + 1) - 1, cols * (cols + 1) - 1)`."""
    table = np.asarray(table, np.float64)
    rows, cols = table.shape[:2]
    similarity = cosine_similarity(table.reshape(rows * cols, -1))
    mosaic = np.full((rows * (rows + 1) - 1, cols * (cols + 1) - 1), np.nan)
    for index, tile in enumerate(similarity):
        i, j = divmod(index, cols)
        mosaic[i * (rows + 1) : i * (rows + 1) + rows, j * (cols + 1) : j * (cols + 1) + cols] = (
            tile.reshape(rows, cols)
        )
    return mosaic


def plot_grid_similarity(table, title):
    """ViT's figure 7: each patch's position vector against every other
    patch's, one small image per patch, laid out as the grid."""
    figure, (ax,) = _figure(1, size=(6.5, 6.0))
    image = ax.imshow(grid_similarity_mosaic(table), cmap="viridis", vmin=-1, vmax=1)
    ax.set(title=f"{title}: cosine similarity of each patch to all", xticks=[], yticks=[])
    ax.set(xlabel="input patch column", ylabel="input patch row")
    figure.colorbar(image, ax=ax, label="cosine similarity")
    return figure


def plot_grid_rotary(row_frequencies, col_frequencies, title):
    """Each rotating pair's frequency along rows and along columns, `(heads,
    pairs)` arrays: axial pairs lie on the axes, mixed ones anywhere."""
    figure, (ax,) = _figure(1, size=(5.5, 5.0))
    row_frequencies, col_frequencies = np.atleast_2d(row_frequencies, col_frequencies)
    for head, (rows, cols) in enumerate(zip(row_frequencies, col_frequencies)):
        ax.scatter(cols, rows, s=14, label=f"head {head}")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set(title=title, xlabel="radians per column", ylabel="radians per row", aspect="equal")
    if len(row_frequencies) > 1:
        ax.legend(fontsize=7)
    return figure


def mark_fixed(figure) -> None:
    """Says on `figure` that what it draws comes from a formula: every run of
    the family draws the same picture, whatever it trained on."""
    figure.suptitle(
        "Fixed by the formula: the same for every run (nothing here was learned).",
        fontsize=9, color="dimgrey",
    )  # fmt: skip


def plot_training_curves(history, second: str, unit: str = "epoch", steps_per_point=1, kept=None):
    """The loss and `second` ("accuracy" or "perplexity") by epoch (or by
    step, `unit="step"` with `steps_per_point` steps per entry), training
    beside validation, the kept epoch marked.

    Args:
        history: `EpochCheckpoints.state["history"]`: one dict per epoch with
            its `epoch` (from 1) and logs (`loss`, `val_loss`, ...).
        kept: the epoch whose weights the run kept, or `None`.
    """
    figure, axes = _figure(2, size=(5, 3.8))
    x = [entry["epoch"] * steps_per_point for entry in history]
    for ax, metric in zip(axes, ("loss", second)):
        for prefix, label, style in (("", "training", "-"), ("val_", "validation", "--")):
            values = [entry.get(prefix + metric, np.nan) for entry in history]
            ax.plot(x, values, style, marker="o", markersize=3, label=label)
        if kept is not None:
            ax.axvline(kept * steps_per_point, color="grey", linewidth=1, linestyle=":")
            ax.annotate(
                "kept", xy=(kept * steps_per_point, 1.0), xycoords=("data", "axes fraction"),
                ha="center", va="bottom", fontsize=8, color="dimgrey",
            )  # fmt: skip
        ax.set(xlabel=unit, ylabel=metric)
        ax.legend(fontsize=8)
    return figure
