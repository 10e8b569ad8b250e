"""Resampling learned tables: against Pillow, hand-computed values, properties."""

import numpy as np
import pytest
from PIL import Image
from reference import to_numpy

from keras_posemb import PositionEmbedding
from keras_posemb.models import build_text_classifier, resample_position_embedding
from keras_posemb.numerics.resample import resample_table, resize_matrix


def pillow_1d(column, length, method):
    image = Image.fromarray(column[:, None].astype("float32"), mode="F")
    mode = {"linear": Image.BILINEAR, "cubic": Image.BICUBIC}[method]
    return np.asarray(image.resize((1, length), mode))[:, 0].astype(np.float64)


@pytest.mark.parametrize("method", ["linear", "cubic"])
@pytest.mark.parametrize("old, new", [(8, 8), (8, 20), (20, 8), (7, 3), (3, 16)])
def test_matches_pillow_along_one_axis(method, old, new):
    table = np.random.default_rng(old * new).normal(size=(old, 4))
    got = resample_table(table, new, method)
    want = np.stack([pillow_1d(table[:, k], new, method) for k in range(4)], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_identity_on_the_same_size_and_rows_sum_to_one(method):
    np.testing.assert_allclose(resize_matrix(9, 9, method), np.eye(9), atol=1e-15)
    for old, new in [(5, 13), (13, 5), (10, 3)]:
        for antialias in (True, False):
            np.testing.assert_allclose(resize_matrix(old, new, method, antialias).sum(1), 1)


def test_halving_hand_computed():
    """Linear, 4 -> 2 rows: without antialias each new row is the mean of
    the two old rows around its centre; with it, the triangle widened to
    two rows weighs 1/8, 3/8, 3/8, 1/8, renormalised at the edges."""
    np.testing.assert_allclose(
        resize_matrix(4, 2, "linear", antialias=False), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]
    )
    np.testing.assert_allclose(
        resize_matrix(4, 2, "linear"), [[3 / 7, 3 / 7, 1 / 7, 0], [0, 1 / 7, 3 / 7, 3 / 7]]
    )


def test_constant_and_linear_tables_are_kept():
    """Interpolation reproduces constants exactly, and linear ramps away from
    the edges (where Pillow's renormalisation bends them)."""
    constant = np.full((6, 3), 2.5)
    np.testing.assert_allclose(resample_table(constant, 17, "cubic"), 2.5)
    ramp = np.arange(10.0)[:, None]
    got = resample_table(ramp, 20, "linear")[:, 0]
    centres = (np.arange(20) + 0.5) * 0.5 - 0.5
    np.testing.assert_allclose(got[1:-1], centres[1:-1])


def test_errors_name_the_argument():
    with pytest.raises(
        ValueError,
        match=r"Argument `interpolation` must be one of \('linear', 'cubic'\); received interpolation='area'",
    ):
        resize_matrix(4, 2, "area")
    with pytest.raises(ValueError, match=r"Argument `new` must be a positive int; received new=0"):
        resize_matrix(4, 0)
    with pytest.raises(ValueError, match=r"needs a table of rank 3"):
        resample_table(np.zeros((4, 2)), (2, 2))
    with pytest.raises(ValueError, match=r"has no table to resample before it is built"):
        PositionEmbedding(8).resampled_table(16)


def test_position_embedding_resample_method():
    layer = PositionEmbedding(8)
    layer.build((None, None, 3))
    longer = layer.resample(20, "cubic")
    assert longer.max_length == 20 and longer.built
    np.testing.assert_allclose(
        longer.get_weights()[0], resample_table(layer.get_weights()[0], 20, "cubic"), atol=1e-6
    )
    x = np.zeros((1, 20, 3), "float32")
    np.testing.assert_allclose(to_numpy(longer(x))[0], longer.get_weights()[0], atol=1e-6)


def test_resample_a_saved_text_classifier(tmp_path):
    """A model trained with 16 positions takes 40 after resampling: its
    table is the resampled one, every other weight is the same, and the
    original model is untouched."""
    model = build_text_classifier(50, 2, 16, position="learned", embed_dim=8, num_heads=2, ff_dim=8)
    path = tmp_path / "model.keras"
    model.save(path)
    longer = resample_position_embedding(str(path), 40)
    table = model.get_layer("position_encoding").get_weights()[0]
    np.testing.assert_allclose(
        longer.get_layer("position_encoding").get_weights()[0], resample_table(table, 40), atol=1e-6
    )
    for layer in model.layers:
        if layer.name != "position_encoding":
            for a, b in zip(layer.get_weights(), longer.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    assert longer.predict(np.ones((1, 40), "int32"), verbose=0).shape == (1, 2)
    assert model.get_layer("position_encoding").max_length == 16
    with pytest.raises(ValueError, match="has no PositionEmbedding layer"):
        resample_position_embedding(build_text_classifier(50, 2, 16, embed_dim=8, num_heads=2), 40)
