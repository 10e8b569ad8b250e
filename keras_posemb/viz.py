"""Analysis and plots of position tables (NumPy and matplotlib).

The analysis functions return the arrays the plots show, so they can be
tested on their own; the plot functions return matplotlib figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_posemb import files, sinusoid
from keras_posemb.layers import PositionEmbedding, SinusoidalEncoding
from keras_posemb.models import POSITION_LAYER_NAME
from keras_posemb.run import PLOT_NAMES


def find_position_layer(model):
    """The model's layer named `POSITION_LAYER_NAME`, or `None`."""
    return next((layer for layer in model.layers if layer.name == POSITION_LAYER_NAME), None)


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
    """Writes the PNGs of a classifier's position vectors to `output_dir`.

    Heatmaps, cosine similarity, similarity by offset, PCA trajectory and
    spectrum, under the names a run directory uses (`run.PLOT_NAMES`).
    Raises `ValueError` when the model has no position table.

    Returns:
        `(paths, learned)`: the files written, and whether the table is a
        learned one (a sinusoidal model has nothing learned to show).
    """
    tables, learned = model_tables(model, length)
    sinusoid_frequencies = {
        title: sinusoid.channel_frequencies_and_phases(table.shape[1])[0]
        for title, table in tables.items()
        if title.startswith("sinusoidal")
    }
    plots = {
        "heatmaps": plot_tables(tables),
        "similarity": plot_similarity(tables),
        "offset_similarity": plot_offset_similarity(tables),
        "pca": plot_pca(tables),
        "spectrum": plot_spectrum(tables, sinusoid_frequencies),
    }
    paths = []
    for kind, figure in plots.items():
        paths.append(str(Path(output_dir) / PLOT_NAMES[kind]))
        files.atomic_save_figure(figure, paths[-1])
    return paths, learned
