"""The Vision Transformer classifier: every family, saving, resizing."""

import keras
import numpy as np
import pytest
from reference import to_numpy
from test_grid_positions import pillow_resize

from keras_posemb import families
from keras_posemb.models import ImageClassifier, build_image_classifier, resize_image_classifier

TINY = {"embed_dim": 16, "num_heads": 2, "ff_dim": 16, "num_layers": 1, "dropout": 0.0}
ALL_FAMILIES = families.names(include_grid=True)


def images(batch, size, seed=0):
    return np.random.default_rng(seed).uniform(size=(batch, size, size, 3)).astype("float32")


@pytest.mark.all_backends
@pytest.mark.parametrize(
    "position", ["learned_2d", "sinusoidal_2d", "rotary_2d", "rotary_mixed", "learned"]
)
def test_saves_loads_and_resizes(position, tmp_path):
    model = build_image_classifier(12, 4, 3, position=position, **TINY)
    x = images(2, 12)
    want = to_numpy(model(x))
    assert want.shape == (2, 3)
    np.testing.assert_allclose(want.sum(axis=1), 1, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(loaded, ImageClassifier) and loaded.grid_size == (3, 3)
    np.testing.assert_allclose(to_numpy(loaded(x)), want, atol=1e-6)
    # The same size: every table resamples to itself.
    np.testing.assert_allclose(to_numpy(resize_image_classifier(loaded, 12)(x)), want, atol=1e-5)
    larger = resize_image_classifier(loaded, 20)
    assert larger.grid_size == (5, 5) and to_numpy(larger(images(2, 20))).shape == (2, 3)


@pytest.mark.parametrize("position", ALL_FAMILIES)
@pytest.mark.parametrize("pooling", ["class", "mean"])
def test_every_family_trains_a_step(position, pooling):
    model = build_image_classifier(8, 4, 2, position=position, pooling=pooling, **TINY)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(images(4, 8), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    family, layer = families.find_position(model)
    assert family.name == position
    if family.learned:  # Its own weights moved.
        assert all(
            not np.array_equal(b, np.array(w))
            for b, w in zip(before, model.trainable_weights)
            if any(w is v for v in layer.trainable_weights)
        )


def test_resizing_resamples_the_learned_grid_table():
    model = build_image_classifier(16, 4, 2, position="learned_2d", **TINY)
    table = model.get_layer("position_encoding").get_weights()[0]
    for method in ("bicubic", "bilinear"):
        larger = resize_image_classifier(model, 24, interpolation=method)
        got = larger.get_layer("position_encoding").get_weights()[0]
        np.testing.assert_allclose(got, pillow_resize(table, 6, 6, method), atol=1e-5)
        assert larger.get_layer("position_encoding").grid_size == (6, 6)


def test_sizes_that_cannot_fit_in_memory_are_refused_up_front():
    model = build_image_classifier(16, 4, 2, position="learned_2d", **TINY)
    with pytest.raises(ValueError, match=r"`image_size` must be a size that fits in memory \(attention over 400,000,001 patches.*GiB"):  # fmt: skip
        resize_image_classifier(model, 80000)
    layer = model.get_layer("position_encoding")
    with pytest.raises(ValueError, match=r"`grid_size` must be a size that fits in memory.*100,000 x 100,000"):  # fmt: skip
        layer.resample((100_000, 100_000))


@pytest.mark.parametrize("shape", [(2, 24, 24, 1), (2, 16, 16, 3), (2, 24, 24)])
def test_images_of_another_shape_are_refused_naming_both_shapes(shape):
    model = build_image_classifier(16, 4, 2, channels=1, **TINY)
    images = np.zeros(shape, "float32")
    for call in (model, lambda x: model.predict(x, verbose=0)):
        with pytest.raises(ValueError, match=r"takes images of shape \(batch, 16, 16, 1\); received images of shape"):  # fmt: skip
            call(images)
    assert model(np.zeros((2, 16, 16), "float32")).shape == (2, 2)  # One channel, no axis.


def test_errors_name_the_argument():
    with pytest.raises(
        ValueError,
        match=r"`image_size` must be sides that are multiples of patch_size=4; received image_size=10",
    ):
        build_image_classifier(10, 4, 2)
    with pytest.raises(
        ValueError,
        match=r"multiple of 4 features per head.*received 6 features per head, with num_heads=2",
    ):
        build_image_classifier(8, 4, 2, position="rotary_2d", embed_dim=12, num_heads=2)
    with pytest.raises(
        ValueError, match=r"`position` must be one of .*'rotary_mixed'.*received position='2d'"
    ):
        build_image_classifier(8, 4, 2, position="2d")
    with pytest.raises(
        ValueError, match=r"`model` must be an ImageClassifier; received model='Sequential'"
    ):
        resize_image_classifier(keras.Sequential([keras.layers.Dense(1)]), 8)
