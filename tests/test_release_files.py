"""`.keras` files written by release 0.2.0, and by the code of 2026-12-04
before the package was reorganised, load and predict as they did.

`tests/fixtures/release_0_2_0/` was written by commit 10e684c (0.2.0, before
the position registry) under TensorFlow: one classifier per position and
one `PositionalAttention` per relative family with non-default options in
the arguments of that release (`max_wavelength`, `alibi_bias_max`,
`alibi_split_heads`, `num_buckets`, `max_distance`). `outputs.npz` holds
their outputs then, on the inputs stored beside them.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
from reference import to_numpy

import keras_posemb  # noqa: F401  (registers the layers)
from keras_posemb import AlibiBias, RelativePositionBias, RotaryEmbedding, families

pytestmark = pytest.mark.all_backends
DATA = Path(__file__).parent / "fixtures" / "release_0_2_0"
OUTPUTS = np.load(DATA / "outputs.npz")


@pytest.mark.parametrize("position", ["sinusoidal", "learned", "rotary", "alibi", "t5", "none"])
def test_a_classifier_of_0_2_0_loads_and_predicts_the_same(position):
    model = keras.saving.load_model(DATA / f"classifier_{position}.keras", safe_mode=True)
    got = to_numpy(model(OUTPUTS["token_ids"]))
    np.testing.assert_allclose(got, OUTPUTS[f"classifier_{position}"], rtol=1e-5, atol=1e-6)
    assert families.find_position(model)[0].name == position


@pytest.mark.parametrize("position, layer_class, options", [
    ("rotary", RotaryEmbedding, {"max_wavelength": 500}),
    ("alibi", AlibiBias, {"alibi_bias_max": 4, "split_heads": False}),
    ("t5", RelativePositionBias, {"num_buckets": 8, "max_distance": 16}),
])  # fmt: skip
def test_attention_options_of_0_2_0_reach_the_position_layer(position, layer_class, options):
    model = keras.saving.load_model(DATA / f"attention_{position}.keras", safe_mode=True)
    (layer,) = model.get_layer("attention").position_layers
    assert type(layer) is layer_class
    for name, value in options.items():
        assert getattr(layer, name) == value, name
    got = to_numpy(model(OUTPUTS[f"attention_{position}_inputs"]))
    np.testing.assert_allclose(got, OUTPUTS[f"attention_{position}"], rtol=1e-5, atol=1e-5)


# Files of today's models, written before the package was reorganised.
BEFORE = Path(__file__).parent / "fixtures" / "before_the_redesign"
BEFORE_OUTPUTS = np.load(BEFORE / "outputs.npz")


@pytest.mark.parametrize(
    "name",
    [path.stem for path in sorted(BEFORE.glob("*.keras"))],
)
def test_a_model_saved_before_the_redesign_loads_and_predicts_the_same(name):
    model = keras.saving.load_model(BEFORE / f"{name}.keras", safe_mode=True)
    if name.startswith("image_classifier"):
        inputs = BEFORE_OUTPUTS["images"]
    else:
        inputs = BEFORE_OUTPUTS["token_ids"][:, : 8 if name.endswith("learned") else None]
    got = to_numpy(model(inputs))
    np.testing.assert_allclose(got, BEFORE_OUTPUTS[name], rtol=1e-5, atol=1e-5)
    family = name.removeprefix("causal_lm_").removeprefix("image_classifier_")
    assert families.find_position(model)[0].name == family
