"""One contract for every layer of the package: `run_layer_test`.

Like keras_hub's `TestCase.run_layer_test`: a layer's own test module calls
it with a factory and inputs, and it checks what every layer promises,
under the backend the tests run on:

- the config survives JSON and makes an equal layer, which computes the
  same with the same weights;
- eager, symbolic (functional model) and compiled calls agree, with the
  declared output shape and the layer's compute dtype;
- one training step runs, with a finite loss, and changes the layer's
  trainable weights if it has any;
- under mixed_float16 and mixed_bfloat16 the output comes in the compute
  dtype (or the dtype the layer was made with) and stays near float32's;
  a model holding it, saved under mixed_bfloat16 and loaded under float32
  (another process's default), predicts what it predicted
  (`check_reload_under_another_policy`, for whole models too);
- a Keras mask passes through unchanged where the layer supports masking;
- a model holding the layer, saved as `.keras`, loads with
  `safe_mode=True` in a fresh process and predicts the same (all the
  session's models in one process, when the session ends).
"""

import json

import keras
import numpy as np
from helpers import run_python
from reference import to_numpy

from keras_posemb.layers._attention_bias import MASKED_LOGIT

# Largest difference from the float32 output, relative to its largest value.
MIXED_TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 6e-2}


def run_layer_test(
    make_layer,
    inputs,
    call_kwargs=None,
    *,
    tmp_path,
    mask=None,
    trains=None,
    mixed_tolerance=None,
    reload=True,
):
    """Checks the contract for `make_layer()` on `inputs` (a NumPy array).

    Args:
        make_layer: a callable returning a fresh layer (called again under
            each dtype policy).
        inputs: NumPy inputs, batch first.
        call_kwargs: extra Python call arguments (`start_index`, ...).
        tmp_path: a folder for the saved model.
        mask: a boolean `inputs.shape[:2]` mask that must pass through, or
            `None` to skip the mask check.
        trains: whether the layer has trainable weights that one training
            step must change; default: whether it has any after building.
        mixed_tolerance: overrides `MIXED_TOLERANCE`.
        reload: whether to check the fresh-process reload.
    """
    call_kwargs = call_kwargs or {}
    layer = make_layer()
    eager = to_numpy(layer(inputs, **call_kwargs))
    _check_config_round_trip(layer, inputs, call_kwargs, eager)
    assert eager.shape == tuple(layer.compute_output_shape(inputs.shape)), layer
    model = _model(layer, inputs, call_kwargs)
    np.testing.assert_allclose(to_numpy(model(inputs)), eager, rtol=1e-5, atol=1e-5)
    model.compile(loss="mse", jit_compile="auto")
    compiled = model.predict(inputs, batch_size=len(inputs), verbose=0)
    np.testing.assert_allclose(to_numpy(compiled), eager, rtol=1e-5, atol=1e-5)
    _check_training_step(make_layer, inputs, call_kwargs, trains)
    for policy, tolerance in {**MIXED_TOLERANCE, **(mixed_tolerance or {})}.items():
        _check_mixed_precision(make_layer, layer, inputs, call_kwargs, policy, tolerance, eager)
    check_reload_under_another_policy(
        lambda: _model(make_layer(), inputs, call_kwargs), inputs, tmp_path
    )
    if mask is not None:
        got = layer.compute_mask(inputs, keras.ops.convert_to_tensor(mask))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), mask)
    if reload:
        _check_reload_in_a_fresh_process(model, inputs, tmp_path)


def _check_config_round_trip(layer, inputs, call_kwargs, eager):
    config = json.loads(json.dumps(keras.layers.serialize(layer)))
    clone = keras.layers.deserialize(config)
    assert type(clone) is type(layer)
    assert _as_json(clone.get_config()) == _as_json(layer.get_config())
    clone(inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(inputs, **call_kwargs)), eager, rtol=1e-6, atol=1e-6)


def _as_json(config):
    return json.loads(json.dumps(config))  # Tuples become lists, as in a file.


def _model(layer, inputs, call_kwargs):
    symbolic = keras.Input(shape=inputs.shape[1:], dtype=str(inputs.dtype))
    return keras.Model(symbolic, layer(symbolic, **call_kwargs))


def _float_output(x):
    """A float tensor to train against, whatever the layer returns."""
    return keras.ops.cast(x, "float32")


def _check_training_step(make_layer, inputs, call_kwargs, trains):
    layer = make_layer()
    symbolic = keras.Input(shape=inputs.shape[1:], dtype=str(inputs.dtype))
    x = symbolic
    if "float" in str(inputs.dtype):  # Something trainable before the layer.
        x = keras.layers.Dense(inputs.shape[-1], name="before")(x)
    outputs = keras.layers.Lambda(_float_output)(layer(x, **call_kwargs))
    model = keras.Model(symbolic, outputs)
    before = [np.array(w) for w in layer.trainable_weights]
    trains = bool(before) if trains is None else trains
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    target = np.random.default_rng(0).normal(size=model.output_shape[1:])[None]
    history = model.fit(inputs, np.repeat(target, len(inputs), 0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(b, np.array(w)) for b, w in zip(before, layer.trainable_weights)]
    assert (bool(changed) and all(changed)) == trains, layer


def _check_mixed_precision(make_layer, float_layer, inputs, call_kwargs, policy, tolerance, eager):
    keras.config.set_dtype_policy(policy)
    try:
        layer = make_layer()
        layer(inputs, **call_kwargs)  # Builds; variables stay float32.
        layer.set_weights(float_layer.get_weights())
        got = layer(inputs, **call_kwargs)
    finally:
        keras.config.set_dtype_policy("float32")
    dtype = keras.backend.standardize_dtype(got.dtype)
    if "float" in dtype:
        assert dtype == layer.compute_dtype, (policy, layer, dtype)
    # The same computation, rounded to the compute dtype; a masked logit
    # (-1e9) may round to -inf in float16, and stays far below any other.
    got, masked = to_numpy(got), eager <= MASKED_LOGIT
    assert np.all(got[masked] <= -60000), (policy, layer)
    scale = max(1.0, float(np.max(np.abs(eager[~masked]), initial=0)))
    np.testing.assert_allclose(got[~masked], eager[~masked], atol=tolerance * scale)


def check_reload_under_another_policy(make_model, inputs, tmp_path, saved="mixed_bfloat16"):
    """`make_model()` made under the `saved` policy and saved; loaded under
    float32, it must run and predict what it predicted (to that policy's
    rounding), every sublayer in the policy it was saved with."""
    keras.config.set_dtype_policy(saved)
    try:
        model = make_model()
        want = to_numpy(model(inputs))
        path = tmp_path / f"{model.name}_{saved}.keras"
        model.save(path)
    finally:
        keras.config.set_dtype_policy("float32")
    loaded = keras.saving.load_model(path, safe_mode=True)
    got = to_numpy(loaded(inputs))
    np.testing.assert_allclose(
        got, want, rtol=0, atol=MIXED_TOLERANCE[saved] * max(1.0, np.abs(want).max())
    )
    return loaded


# Models saved by `run_layer_test`, reloaded in one fresh process at the end
# of the session (`reload_saved_models`, from conftest.py): one process
# start instead of one per layer.
SAVED = []


def _check_reload_in_a_fresh_process(model, inputs, tmp_path):
    folder = tmp_path / f"saved_{model.layers[-1].name}"
    folder.mkdir()
    np.save(folder / "inputs.npy", inputs)
    np.save(folder / "want.npy", to_numpy(model(inputs)))
    model.save(folder / "model.keras")
    SAVED.append(str(folder))


def reload_saved_models():
    """Loads every saved model with `safe_mode=True` in a fresh process under
    this backend; each must predict what it predicted when it was saved."""
    if not SAVED:
        return
    folders = list(SAVED)
    SAVED.clear()
    run_python(
        """
        import sys
        import numpy as np, keras, keras_posemb
        failed = []
        for folder in sys.argv[1:]:
            try:
                model = keras.saving.load_model(folder + "/model.keras", safe_mode=True)
                got = keras.ops.convert_to_numpy(model(np.load(folder + "/inputs.npy")))
                np.testing.assert_allclose(
                    np.asarray(got, "float64"), np.load(folder + "/want.npy"), rtol=1e-5, atol=1e-6
                )
            except Exception as error:
                failed.append(f"{folder}: {type(error).__name__}: {error}")
        assert not failed, " | ".join(failed)
        print(len(sys.argv) - 1)
        """,
        cwd=folders[0],
        args=folders,
    )
