"""Analysis and plots of position tables (NumPy and matplotlib).

The analysis functions return the arrays the plots show, so they can be
tested on their own; the plot functions return matplotlib figures.
"""

import numpy as np

from keras_posemb import sinusoid
from keras_posemb.models import POSITION_LAYER_NAME


def position_table(model, length=None):
    """The position table of a classifier built by `build_text_classifier`.

    Returns:
        `(kind, table)`: kind is `"learned"` or `"sinusoidal"`, table a
        float64 array `(length, width)`; `length` defaults to the learned
        table's length (and is required for a sinusoidal encoding).

    Raises:
        ValueError: if the model has no layer named `POSITION_LAYER_NAME`.
    """
    names = [layer.name for layer in model.layers]
    if POSITION_LAYER_NAME not in names:
        raise ValueError(
            f"Model {model.name!r} has no position layer named "
            f"{POSITION_LAYER_NAME!r} (was it built with position='none'?)."
        )
    layer = model.get_layer(POSITION_LAYER_NAME)
    if hasattr(layer, "embeddings"):
        table = np.asarray(layer.embeddings.numpy(), np.float64)
        return "learned", table[:length] if length else table
    if length is None:
        raise ValueError("Argument `length` is required for a sinusoidal encoding.")
    return "sinusoidal", sinusoid.sinusoidal_table(
        length, layer.width, layer.max_wavelength, layer.layout
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


def similarity_image(table):
    """The cosine-similarity matrix as an RGB uint8 image `(n, n, 3)`."""
    from matplotlib import colormaps

    similarity = (cosine_similarity(table) + 1) / 2
    return (colormaps["viridis"](similarity)[..., :3] * 255).astype(np.uint8)


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
        dots = ax.scatter(points[:, 0], points[:, 1], c=np.arange(len(points)), cmap="viridis", s=14, zorder=2)
        ax.set(title=f"{title}: PCA of positions", xlabel="component 1", ylabel="component 2")
        figure.colorbar(dots, ax=ax, label="position")
    return figure
