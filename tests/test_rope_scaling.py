"""RoPE context extension: each variant against the paper's formula in float64,
and `RotaryEmbedding` rotating by those frequencies on every backend."""

import keras
import numpy as np
import pytest
from layer_contract import run_layer_test
from reference import (
    compiled,
    reference_rope_frequencies,
    reference_rotation_by,
    to_numpy,
)

from keras_posemb import PositionalAttention, RotaryEmbedding
from keras_posemb.layers.rotary_embedding import FLOAT64_OPS
from keras_posemb.numerics.rope_scaling import ROPE_TYPES, check_rope_scaling, rope_frequencies

DIM = 16
# One dictionary per variant, as a Hugging Face config spells it.
VARIANTS = {
    "linear": {"rope_type": "linear", "factor": 4.0},
    "ntk": {"rope_type": "ntk", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 16},
    "yarn": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64},
    "longrope": {
        "rope_type": "longrope",
        "factor": 4.0,
        "original_max_position_embeddings": 16,
        "short_factor": list(np.linspace(1.0, 1.5, DIM // 2)),
        "long_factor": list(np.linspace(1.0, 6.0, DIM // 2)),
    },
    "llama3": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    },
    # Factor length / L0 beyond L0 = 16 (not Hugging Face's).
    "dynamic_linear": {"rope_type": "dynamic_linear", "original_max_position_embeddings": 16},
    "dynamic_yarn": {"rope_type": "dynamic_yarn", "original_max_position_embeddings": 16},
    "dynamic_llama3": {"rope_type": "dynamic_llama3", "original_max_position_embeddings": 16},
}


def test_every_variant_has_a_case():
    assert set(VARIANTS) == set(ROPE_TYPES) - {"default"}


@pytest.mark.parametrize("length", [None, 10, 40])
@pytest.mark.parametrize("name", VARIANTS)
def test_frequencies_follow_the_papers_formulas(name, length):
    scaling = check_rope_scaling(VARIANTS[name])
    got, got_factor = rope_frequencies(scaling, DIM, 10000.0, length)
    parameters = {k: v for k, v in VARIANTS[name].items() if k != "rope_type"}
    want, want_factor = reference_rope_frequencies(name, DIM, 10000.0, length or 0, **parameters)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got_factor == pytest.approx(want_factor, rel=1e-12)


def test_the_variants_change_what_they_claim():
    default, _ = rope_frequencies(None, DIM, 10000.0)
    ntk, _ = rope_frequencies(check_rope_scaling(VARIANTS["ntk"]), DIM, 10000.0)
    assert ntk[0] == default[0] and ntk[-1] == pytest.approx(default[-1] / 4, rel=1e-12)
    yarn, factor = rope_frequencies(check_rope_scaling(VARIANTS["yarn"]), DIM, 10000.0)
    assert yarn[0] == default[0] and yarn[-1] == default[-1] / 8
    assert factor == pytest.approx(0.1 * np.log(8) + 1)
    dynamic = check_rope_scaling(VARIANTS["dynamic"])
    assert np.array_equal(rope_frequencies(dynamic, DIM, 10000.0, 16)[0], default)
    assert rope_frequencies(dynamic, DIM, 10000.0, 32)[0][-1] < default[-1]


@pytest.mark.parametrize(
    "scaling, message",
    [
        ({"rope_type": "cubic"}, r"rope_type.*one of"),
        ({"rope_type": "yarn", "factor": 4.0}, r"original_max_position_embeddings.*given"),
        ({"rope_type": "linear", "factor": 4.0, "beta": 2}, r"only the parameters of.*'factor'"),
        ({"rope_type": "linear", "factor": -1.0}, r"factor.*positive"),
        ({"rope_type": "linear", "factor": 2.0, "rope_theta": 5e5}, r"from_rope_parameters"),
        ({**VARIANTS["longrope"], "long_factor": [1.0, 0.0]}, r"long_factor.*positive"),
    ],
)
def test_bad_scalings_are_refused_with_the_argument(scaling, message):
    with pytest.raises(ValueError, match=message):
        check_rope_scaling(scaling)


def test_hugging_face_spellings_are_read():
    old = check_rope_scaling({"type": "linear", "factor": 2.0, "max_position_embeddings": 9})
    assert old == {"rope_type": "linear", "factor": 2.0}
    dynamic = check_rope_scaling({"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 9})  # fmt: skip
    assert dynamic["original_max_position_embeddings"] == 9
    layer = RotaryEmbedding.from_rope_parameters(
        {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5}
    )
    assert (layer.max_wavelength, layer.partial_rotary_factor, layer.rope_scaling) == (
        5e5,
        0.5,
        None,
    )


@pytest.mark.parametrize(
    "parameters, arguments, message",
    [
        ({"rope_typ": "yarn", "factor": 4.0}, {}, r"rope_type='default'.*'rope_typ'"),
        ({"rope_type": "default", "rope_thetta": 5e5}, {}, r"'rope_thetta'"),
        ({"rope_theta": 1e4, "factor": 8.0}, {}, r"rope_type='default'.*'factor'"),
        ({**VARIANTS["linear"], "partial_rotary_factr": 0.5}, {}, r"'partial_rotary_factr'"),
        ({"rope_theta": 5e5}, {"max_wavelength": 1e4}, r"max_wavelength.*rope_theta=500000"),
        ({"partial_rotary_factor": 0.5}, {"partial_rotary_factor": 0.25}, r"partial_rotary"),
        (None, {}, r"Argument `parameters` must be a dict"),
        ({**VARIANTS["yarn"], "beta_fast": 1.0, "beta_slow": 32.0}, {}, r"beta_fast.*greater"),
        ({**VARIANTS["dynamic_yarn"], "beta_fast": 2.0, "beta_slow": 2.0}, {}, r"beta_fast"),
        ({**VARIANTS["llama3"], "high_freq_factor": 1.0}, {}, r"high_freq_factor.*greater"),
    ],
)
def test_a_mistyped_or_conflicting_hugging_face_dict_is_refused(parameters, arguments, message):
    """Nothing is dropped silently: a misspelt key would leave plain rotary."""
    with pytest.raises(ValueError, match=message):
        RotaryEmbedding.from_rope_parameters(parameters, **arguments)


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.all_backends
@pytest.mark.parametrize("layout", ["half", "interleaved"])
@pytest.mark.parametrize("name", VARIANTS)
def test_the_layer_rotates_by_the_variants_frequencies(name, layout):
    x = random(2, 40, 3, DIM)  # (batch, sequence, heads, head_dim)
    layer = RotaryEmbedding(rope_scaling=VARIANTS[name], layout=layout)
    frequencies, factor = rope_frequencies(check_rope_scaling(VARIANTS[name]), DIM, 10000.0, 40)
    want = np.stack(
        [
            reference_rotation_by(x[:, :, h], np.arange(40), frequencies, factor, layout)
            for h in range(3)
        ],  # fmt: skip
        axis=2,
    )
    # Two ulp of the largest value the rotation can reach, per channel.
    bound = 2 * 2.0**-23 * factor * 2 * np.abs(x).max()
    np.testing.assert_allclose(to_numpy(layer(x)), want, rtol=0, atol=bound)


@pytest.mark.all_backends
def test_the_default_and_factor_one_scalings_are_todays_rotary_exactly():
    x = random(2, 30, DIM)
    today = to_numpy(RotaryEmbedding()(x, start_index=7))
    for scaling in ({"rope_type": "default"}, {"rope_type": "linear", "factor": 1.0}):
        np.testing.assert_array_equal(to_numpy(RotaryEmbedding(rope_scaling=scaling)(x, start_index=7)), today)  # fmt: skip
    linear = {"rope_type": "linear", "factor": 4.0}
    np.testing.assert_array_equal(
        to_numpy(RotaryEmbedding(rope_scaling=linear)(x)),
        to_numpy(RotaryEmbedding(scaling_factor=4.0)(x)),
    )


@pytest.mark.all_backends
@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_partial_rotary_rotates_the_first_channels_only(layout):
    x = random(2, 20, 12)
    got = to_numpy(RotaryEmbedding(partial_rotary_factor=0.5, layout=layout)(x))
    frequencies, _ = rope_frequencies(None, 6, 10000.0)
    want = reference_rotation_by(x, np.arange(20), frequencies, layout=layout)
    np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_array_equal(got[..., 6:], x[..., 6:])


@pytest.mark.all_backends
def test_dynamic_scaling_reads_the_length_it_is_given_or_the_last_position():
    x = random(1, 8, DIM)
    layer = RotaryEmbedding(rope_scaling=VARIANTS["dynamic"])
    scaling = check_rope_scaling(VARIANTS["dynamic"])
    for length in (8, 16, 48):  # Up to L0 = 16, today's frequencies; beyond, NTK-scaled.
        frequencies, _ = rope_frequencies(scaling, DIM, 1e4, length)
        want = reference_rotation_by(x, np.arange(8), frequencies)
        np.testing.assert_allclose(to_numpy(layer(x, sequence_length=length)), want, atol=2e-6)
    np.testing.assert_allclose(  # By default, the last position + 1: 40 + 8.
        to_numpy(layer(x, start_index=40)),
        reference_rotation_by(x, np.arange(40, 48), rope_frequencies(scaling, DIM, 1e4, 48)[0]),
        atol=2e-5,
    )
    # A start known only inside the compiled function: the length is read there.
    step = compiled(lambda x, start: layer(x, start_index=start))
    frequencies, _ = rope_frequencies(scaling, DIM, 1e4, 11)
    want = reference_rotation_by(x, np.arange(3, 11), frequencies)
    got = step(x, keras.ops.convert_to_tensor(3))
    np.testing.assert_allclose(to_numpy(got), want, atol=1e-5)


LENGTH_DEPENDENT = [name for name, entry in ROPE_TYPES.items() if entry.length_dependent]


@pytest.mark.all_backends
@pytest.mark.parametrize("name", LENGTH_DEPENDENT)
def test_a_length_known_only_at_run_time_gives_the_same_frequencies(name):
    """The formulas on `keras.ops` for a tensor length equal the NumPy ones,
    in float64 (JAX without 64-bit mode has float32 only)."""
    scaling = check_rope_scaling(VARIANTS[name])
    rtol = 1e-6 if keras.backend.backend() == "jax" else 1e-12
    for length in (10, 16, 40):  # Below, at and beyond L0 (16, or 64 for YaRN's).
        want, want_factor = rope_frequencies(scaling, DIM, 10000.0, length)
        tensor = keras.ops.cast(keras.ops.convert_to_tensor(length), "float64")
        got, got_factor = rope_frequencies(scaling, DIM, 10000.0, tensor, xp=FLOAT64_OPS)
        np.testing.assert_allclose(to_numpy(got), want, rtol=rtol)
        assert float(keras.ops.convert_to_numpy(got_factor)) == pytest.approx(want_factor, rel=rtol)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_graph_traced_for_any_length_rotates_exactly(jit_compile):
    """tf.function with an unknown sequence axis (what Keras' predict traces
    after two lengths): each length-dependent variant, at lengths below and
    beyond L0, against the float64 rotation, and positions up to 262,143 as
    precise as the tables of a known length."""
    import tensorflow as tf

    for name in LENGTH_DEPENDENT:
        layer = RotaryEmbedding(rope_scaling=VARIANTS[name])
        spec = tf.TensorSpec((None, None, DIM), tf.float32)
        any_length = tf.function(layer, input_signature=[spec], jit_compile=jit_compile)
        scaling = check_rope_scaling(VARIANTS[name])
        for length in (12, 40, 100):
            x = random(2, length, DIM, seed=length)
            frequencies, factor = rope_frequencies(scaling, DIM, 10000.0, length)
            want = reference_rotation_by(x, np.arange(length), frequencies, factor)
            bound = 2 * 2.0**-23 * factor * 2 * np.abs(x).max()
            np.testing.assert_allclose(
                to_numpy(any_length(x)), want, rtol=0, atol=bound, err_msg=name
            )
    far = np.array([5, 100_000, 262_143])
    layer = RotaryEmbedding(rope_scaling=VARIANTS["dynamic"])
    at = tf.function(lambda x, p: layer(x, positions=p), jit_compile=jit_compile)
    x = random(1, 3, DIM)
    frequencies, _ = rope_frequencies(check_rope_scaling(VARIANTS["dynamic"]), DIM, 1e4, 262_144)
    want = reference_rotation_by(x, far, frequencies)
    bound = 2 * 2.0**-23 * 2 * np.abs(x).max()
    np.testing.assert_allclose(to_numpy(at(x, tf.constant(far))), want, rtol=0, atol=bound)


@pytest.mark.all_backends
def test_cached_decoding_with_dynamic_scaling_uses_the_caches_length():
    """Every token of a generation sees the frequencies of the whole cache, so
    cached decoding equals one full pass over a sequence of that length."""
    x = random(2, 24, 8)
    rotary = RotaryEmbedding(rope_scaling=VARIANTS["dynamic"])
    layer = PositionalAttention(2, 4, rotary, bidirectional=False)
    full = to_numpy(layer(x))
    cache = layer.empty_cache(2, 24)
    outputs = []
    for start, end in [(0, 10), (10, 11), (11, 24)]:
        out, cache = layer(x[:, start:end], cache=cache, cache_update_index=start)
        outputs.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=2e-6)


@pytest.mark.all_backends
def test_a_scaled_partial_rotary_meets_the_layer_contract(tmp_path):
    run_layer_test(
        lambda: RotaryEmbedding(rope_scaling=VARIANTS["yarn"], partial_rotary_factor=0.5),
        random(2, 9, 2, DIM), tmp_path=tmp_path,
    )  # fmt: skip


def test_layer_arguments_are_checked_against_the_width():
    with pytest.raises(ValueError, match=r"rotates 3.*even"):
        RotaryEmbedding(partial_rotary_factor=0.25).build((None, None, 12))
    with pytest.raises(ValueError, match=r"short_factor.*8 factors"):
        RotaryEmbedding(rope_scaling={**VARIANTS["longrope"], "short_factor": [1.0]}).build(
            (None, None, DIM)
        )
    with pytest.raises(ValueError, match=r"scaling_factor.*1 when rope_scaling"):
        RotaryEmbedding(scaling_factor=2.0, rope_scaling=VARIANTS["linear"])


@pytest.mark.parametrize("name", ["dynamic_linear", "dynamic_yarn", "dynamic_llama3"])
def test_by_length_variants_are_their_variant_sized_to_the_sequence(name):
    scaling = check_rope_scaling(VARIANTS[name])
    default, _ = rope_frequencies(None, DIM, 10000.0)
    assert np.array_equal(rope_frequencies(scaling, DIM, 10000.0, 16)[0], default)  # Up to L0.
    static = {**VARIANTS[name], "rope_type": name.removeprefix("dynamic_"), "factor": 3.0}
    if name == "dynamic_linear":
        del static["original_max_position_embeddings"]
    if name == "dynamic_llama3":
        static.update(low_freq_factor=1.0, high_freq_factor=4.0)
    want = rope_frequencies(check_rope_scaling(static), DIM, 10000.0)
    got = rope_frequencies(scaling, DIM, 10000.0, 48)  # 3 x L0.
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
