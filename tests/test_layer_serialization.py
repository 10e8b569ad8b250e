"""Serialization beyond the layer contract (`layer_contract.run_layer_test`):
the initializer, SavedModel export, and configs with bad fields."""

import keras
import numpy as np
import pytest
from reference import to_numpy

from keras_posemb import PositionEmbedding, SinusoidalEncoding, SinusoidalInitializer

pytestmark = pytest.mark.all_backends

LAYERS = {
    "sinusoidal": lambda: SinusoidalEncoding(
        max_wavelength=500, layout="concatenated", scale_inputs=True, name="position"
    ),
    "learned": lambda: PositionEmbedding(
        20,
        initializer=SinusoidalInitializer(max_wavelength=77, layout="concatenated"),
        regularizer="l2",
        constraint=keras.constraints.MaxNorm(3.0),
        name="position",
    ),
}


def small_model(position_layer):
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(tokens)
    x = position_layer(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(3)(x))


def test_sinusoidal_initializer_round_trip():
    init = SinusoidalInitializer(max_wavelength=123, layout="concatenated")
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert clone.get_config() == init.get_config()
    np.testing.assert_array_equal(to_numpy(clone((4, 6))), to_numpy(init((4, 6))))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("kind", LAYERS)
def test_export_serves_shorter_sequences(kind, tmp_path):
    import tensorflow as tf

    model = small_model(LAYERS[kind]())
    model.export(str(tmp_path / "exported"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    for length in (20 if kind == "learned" else 40, 3):
        ids = np.random.default_rng(length).integers(1, 30, (2, length)).astype("int32")
        np.testing.assert_allclose(served.serve(ids), model(ids), atol=1e-5)


def test_from_config_missing_max_length():
    config = PositionEmbedding(8).get_config()
    del config["max_length"]
    with pytest.raises(ValueError, match="missing the required field 'max_length'"):
        PositionEmbedding.from_config(config)


@pytest.mark.parametrize(
    "layer_class, field, value",
    [
        (PositionEmbedding, "max_length", -1),
        (PositionEmbedding, "initializer", "no_such_initializer"),
        (SinusoidalEncoding, "max_wavelength", 0),
        (SinusoidalEncoding, "layout", "diagonal"),
        (SinusoidalEncoding, "scale_inputs", "true"),
        (SinusoidalEncoding, "add_to_inputs", None),
    ],
)
def test_from_config_invalid_field(layer_class, field, value):
    config = (layer_class(8) if layer_class is PositionEmbedding else layer_class()).get_config()
    config[field] = value
    # Keras re-raises errors from the constructor as TypeError, message kept.
    with pytest.raises((ValueError, TypeError), match=f"{field}={value!r}"):
        layer_class.from_config(config)


def test_from_config_unknown_field():
    config = SinusoidalEncoding().get_config()
    config["wavelength"] = 3
    with pytest.raises((ValueError, TypeError), match="Unrecognized keyword.*wavelength"):
        SinusoidalEncoding.from_config(config)
