import numpy as np
import pytest
from reference import reference_encoding

import keras_posemb
from keras_posemb import families
from keras_posemb.analysis import plots, viz

pytestmark = pytest.mark.all_backends


@pytest.fixture(scope="module")
def sinusoidal():
    return reference_encoding(np.arange(80), 16)


def test_similarity_of_sinusoidal_table_depends_only_on_offset(sinusoidal):
    similarity = viz.cosine_similarity(sinusoidal)
    np.testing.assert_allclose(similarity, similarity.T, atol=1e-12)
    frequencies = 10000.0 ** (-np.arange(0, 16, 2) / 16)
    for k in range(0, 80, 7):
        offset_k = np.diagonal(similarity, offset=k)
        np.testing.assert_allclose(offset_k, np.sum(np.cos(k * frequencies)) / 8, atol=1e-12)


def test_cosine_similarity_of_hand_made_rows():
    table = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]])
    want = np.array(
        [
            [1, 0, -1, 2**-0.5],
            [0, 1, 0, 2**-0.5],
            [-1, 0, 1, -(2**-0.5)],
            [2**-0.5, 2**-0.5, -(2**-0.5), 1],
        ]
    )
    np.testing.assert_allclose(viz.cosine_similarity(table), want, atol=1e-12)


def test_pca_recovers_a_known_ellipse():
    """Points on an ellipse with axes 5 and 2, turned and shifted in 4-D: the
    first two components are the ellipse's own coordinates (up to sign)."""
    angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    plane = np.stack([5 * np.cos(angle), 2 * np.sin(angle)], axis=1)
    turn, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    table = plane @ turn[:2] + [3.0, -1.0, 7.0, 0.5]
    got = viz.pca_2d(table)
    signs = np.sign(got[0] * plane[0] + got[10] * plane[10])
    np.testing.assert_allclose(got * signs, plane, atol=1e-9)


def test_plots_draw_the_arrays(sinusoidal):
    tables = {
        "sinusoidal": sinusoidal,
        "noise": np.random.default_rng(1).normal(size=sinusoidal.shape),
    }
    heatmaps = viz.plot_tables(tables)
    drawn = [ax for ax in heatmaps.axes if ax.images]
    assert [ax.get_title() for ax in drawn] == ["sinusoidal", "noise"]
    np.testing.assert_array_equal(drawn[0].images[0].get_array(), sinusoidal)
    similarity = viz.plot_similarity(tables)
    np.testing.assert_allclose(
        [ax for ax in similarity.axes if ax.images][1].images[0].get_array(),
        viz.cosine_similarity(tables["noise"]),
    )
    pca = viz.plot_pca(tables)
    offsets = [ax for ax in pca.axes if ax.collections][0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, viz.pca_2d(sinusoidal))
    for figure in (heatmaps, similarity, pca):
        for ax in figure.axes[:2]:
            assert ax.get_xlabel() and ax.get_ylabel()


def test_figure_to_image_renders_the_figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.patch.set_facecolor((1.0, 0.0, 0.0))
    image = viz.figure_to_image(figure, dpi=50)
    assert image.shape == (50, 100, 3) and image.dtype == np.uint8
    assert np.all(image == [255, 0, 0])


# Long tables (issue 18, item 9): drawn at a size that fits.


def test_similarity_by_offset_is_the_mean_of_each_diagonal():
    table = np.random.default_rng(2).normal(size=(37, 5))
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    want = [np.mean([unit[p] @ unit[p + k] for p in range(37 - k)]) for k in range(37)]
    np.testing.assert_allclose(viz.similarity_by_offset(table), want, atol=1e-12)


def test_a_table_of_262144_positions_is_drawn_at_512_positions_with_real_labels():
    length = 262_144
    table = reference_encoding(np.arange(length), 8)
    rows = viz.drawn_positions(length)
    assert len(rows) == viz.MAX_DRAWN and rows[0] == 0 and rows[-1] == length - 1
    image = [ax for ax in viz.plot_similarity({"t": table}).axes if ax.images][0].images[0]
    assert image.get_array().shape == (512, 512)  # Not 262,144 squared: 550 GB.
    np.testing.assert_allclose(image.get_array(), viz.cosine_similarity(table[rows]))
    assert image.get_extent()[:2] == [-0.5, length - 0.5]  # Axes in real positions.
    heatmap = [ax for ax in viz.plot_tables({"t": table}).axes if ax.images][0].images[0]
    assert heatmap.get_array().shape == (512, 8)
    # Offset similarity of the whole table, in memory that grows with it: a
    # sinusoidal table's is the mean of cos(k w) over its frequencies w.
    frequencies = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    want = [np.mean(np.cos(k * frequencies)) for k in range(100)]
    np.testing.assert_allclose(viz.similarity_by_offset(table)[:100], want, atol=1e-9)


def test_a_learned_table_plot_marks_where_training_ended(tmp_path):
    """Rows after the longest training example were never trained: the
    heatmap and similarity plots draw a line after the last trained row."""
    layer = keras_posemb.PositionEmbedding(max_length=32)
    layer.build((1, 32, 8))
    drawings = plots.view_of(families.get("learned")).plots

    def dashed_lines(figure):
        own = [ax for ax in figure.axes if ax.get_title().startswith("learned (model)")][0]
        return sorted({line.get_xydata()[0][i] for line in own.lines for i in (0, 1)} - {0.0, 1.0})

    assert dashed_lines(drawings["heatmaps"](layer, None, 12)) == [11.5]
    assert dashed_lines(drawings["similarity"](layer, None, 12)) == [11.5]
    assert dashed_lines(drawings["heatmaps"](layer, None, None)) == []  # Unknown: no line.
    assert dashed_lines(drawings["heatmaps"](layer, None, 32)) == []  # Every row trained.


def test_grid_similarity_mosaic_is_vits_figure_7():
    """Tile (i, j) compares patch (i, j) with every patch (1 at its own
    place); tiles are separated by NaN."""
    table = np.random.default_rng(0).normal(size=(3, 4, 6))
    mosaic = viz.grid_similarity_mosaic(table)
    assert mosaic.shape == (3 * 4 - 1, 4 * 5 - 1)
    unit = table / np.linalg.norm(table, axis=-1, keepdims=True)
    for i in range(3):
        for j in range(4):
            tile = mosaic[i * 4 : i * 4 + 3, j * 5 : j * 5 + 4]
            assert tile[i, j] == pytest.approx(1)
            np.testing.assert_allclose(tile, np.einsum("rcd,d->rc", unit, unit[i, j]))
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[:, 4]).all()


def test_training_curves_draw_training_beside_validation_and_mark_the_kept_epoch():
    history = [
        {"epoch": 1, "loss": 2.0, "val_loss": 1.8, "perplexity": 7.4, "val_perplexity": 6.0},
        {"epoch": 2, "loss": 1.5, "val_loss": 1.6, "perplexity": 4.5, "val_perplexity": 5.0},
    ]
    figure = viz.plot_training_curves(history, "perplexity", "step", 250, kept=2)
    loss, perplexity = figure.axes
    assert [line.get_label() for line in loss.get_lines()[:2]] == ["training", "validation"]
    np.testing.assert_array_equal(loss.get_lines()[0].get_xdata(), [250, 500])
    np.testing.assert_array_equal(perplexity.get_lines()[1].get_ydata(), [6.0, 5.0])
    assert loss.get_lines()[2].get_xdata()[0] == 500  # The kept step.
    assert (loss.get_xlabel(), perplexity.get_ylabel()) == ("step", "perplexity")


@pytest.mark.parametrize(
    "position, fixed", [("sinusoidal", True), ("alibi", True), ("learned", False), ("t5", False)]
)
def test_plots_of_a_fixed_family_say_so(position, fixed, tmp_path, monkeypatch):
    from keras_posemb import files
    from keras_posemb.models import build_text_classifier

    drawn = []
    monkeypatch.setattr(files, "atomic_save_figure", lambda figure, path: drawn.append(figure))
    model = build_text_classifier(50, 2, 16, position, 16, 2, 32, 1)
    plots.write_position_plots(model, tmp_path, 16)
    notes = [figure._suptitle.get_text() if figure._suptitle else "" for figure in drawn]
    assert drawn and all(("Fixed by the formula" in note) == fixed for note in notes), notes
