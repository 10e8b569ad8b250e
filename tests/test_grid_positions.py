"""The 2-D position layers: against float64 references written from MAE's,
timm's and Heo et al.'s formulas, Pillow's resampling, and the contract."""

import numpy as np
import pytest
from layer_contract import run_layer_test
from PIL import Image
from reference import (
    TWO_ULP,
    reference_axial_angles,
    reference_encoding,
    reference_grid_encoding,
    reference_rotation_by_angles,
    to_numpy,
)

from keras_posemb import (
    PositionalAttention,
    PositionEmbedding2D,
    RotaryEmbedding2D,
    SinusoidalEncoding2D,
    families,
)

pytestmark = pytest.mark.all_backends
F32 = TWO_ULP["float32"]


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def pillow_resize(table, rows, cols, method):
    """Pillow's resampling of each channel of a (rows, cols, d) table."""
    mode = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[method]
    channels = [
        np.asarray(
            Image.fromarray(table[..., k].astype("float32"), mode="F").resize((cols, rows), mode)
        )
        for k in range(table.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float64)


# Fixed sine-cosine grid.


def test_sinusoidal_2d_is_timms_table_to_two_ulp():
    got = to_numpy(SinusoidalEncoding2D()(np.zeros((2, 3, 5, 16), "float32")))
    want = reference_grid_encoding(3, 5, 16)
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=0, atol=F32)


@pytest.mark.parametrize("layout", ["concatenated", "interleaved"])
def test_sinusoidal_2d_halves_are_the_1d_encodings_of_row_and_column(layout):
    """Width 12: each half (6) is the 1-D formula of the row, then the column;
    flattened inputs put the prefix tokens first, with zeros."""
    layer = SinusoidalEncoding2D(
        grid_size=(4, 3), num_prefix_tokens=2, max_wavelength=50, layout=layout
    )
    x = random(2, 2 + 12, 12)
    got = to_numpy(layer(x)) - x
    rows, cols = np.divmod(np.arange(12), 3)
    want = np.concatenate(
        [
            reference_encoding(rows, 6, max_wavelength=50, layout=layout),
            reference_encoding(cols, 6, max_wavelength=50, layout=layout),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(got[:, :2], 0, atol=1e-6)
    np.testing.assert_allclose(got[:, 2:], np.broadcast_to(want, got[:, 2:].shape), atol=1e-6)


def test_grid_errors_name_the_argument_and_the_numbers():
    with pytest.raises(
        ValueError, match=r"even number of features; received inputs.shape=\(1, 2, 2, 5\)"
    ):
        SinusoidalEncoding2D()(np.zeros((1, 2, 2, 5), "float32"))
    with pytest.raises(ValueError, match=r"num_prefix_tokens=1, which needs flattened inputs"):
        SinusoidalEncoding2D(num_prefix_tokens=1)(np.zeros((1, 2, 2, 4), "float32"))
    with pytest.raises(
        ValueError,
        match=r"has 7 tokens; grid_size=\(2, 3\) with num_prefix_tokens=0 needs 0 \+ 2 \* 3 = 6",
    ):
        SinusoidalEncoding2D(grid_size=(2, 3))(np.zeros((1, 7, 4), "float32"))
    with pytest.raises(ValueError, match=r"needs `grid_size=\(rows, cols\)` for flattened inputs"):
        SinusoidalEncoding2D()(np.zeros((1, 6, 4), "float32"))
    with pytest.raises(
        ValueError,
        match=r"Argument `grid_size` must be a pair of positive ints \(rows, cols\); received grid_size=\(0, 3\)",
    ):
        PositionEmbedding2D(grid_size=(0, 3))
    with pytest.raises(
        ValueError,
        match=r"Argument `interpolation` must be one of \('bilinear', 'bicubic'\); received interpolation='nearest'",
    ):
        PositionEmbedding2D((2, 2), interpolation="nearest")
    with pytest.raises(ValueError, match=r"expects floating-point `inputs`"):
        SinusoidalEncoding2D()(np.zeros((1, 2, 2, 4), "int32"))


# Learned grid table.


def built_table(grid=(3, 4), width=5, prefix=0, **kwargs):
    layer = PositionEmbedding2D(grid, num_prefix_tokens=prefix, **kwargs)
    layer.build((None, prefix + grid[0] * grid[1], width))
    return layer


def test_learned_2d_adds_its_table_unchanged_on_its_own_grid():
    layer = built_table(prefix=1)
    table, prefix = layer.get_weights()
    x = random(2, 13, 5)
    want = x + np.concatenate([prefix, table.reshape(12, 5)])
    np.testing.assert_array_equal(to_numpy(layer(x)), want.astype(np.float64))
    grid_x = random(2, 3, 4, 5)
    layer_4d = built_table()
    np.testing.assert_array_equal(to_numpy(layer_4d(grid_x)), grid_x + layer_4d.get_weights()[0])


@pytest.mark.parametrize("method", ["bilinear", "bicubic"])
@pytest.mark.parametrize("grid", [(6, 9), (2, 3), (5, 2)])
def test_learned_2d_resamples_at_call_as_pillow_does(method, grid):
    layer = built_table((4, 5), width=3, prefix=1, interpolation=method)
    table, prefix = layer.get_weights()
    x = np.zeros((1, 1 + grid[0] * grid[1], 3), "float32")
    got = to_numpy(layer(x, grid_size=grid))
    np.testing.assert_array_equal(got[0, 0], prefix[0])  # Never interpolated.
    want = pillow_resize(table, *grid, method).reshape(-1, 3)
    np.testing.assert_allclose(got[0, 1:], want, atol=1e-5)
    np.testing.assert_allclose(layer.resampled_table(grid).reshape(-1, 3), want, atol=1e-5)
    resampled = layer.resample(grid)
    np.testing.assert_allclose(to_numpy(resampled(x)), got, atol=1e-6)


def test_learned_2d_resampling_can_be_switched_off():
    layer = built_table((3, 4), resample_at_call=False)
    with pytest.raises(
        ValueError,
        match=r"has a 3 x 4 table and received a 6 x 8 grid, with resample_at_call=False",
    ):
        layer(np.zeros((1, 6, 8, 5), "float32"))


# Rotary grid.


@pytest.mark.parametrize("layout", ["half", "interleaved"])
@pytest.mark.parametrize("shape", [(2, 1 + 12, 3, 8), (2, 1 + 12, 8)])
def test_axial_rotary_matches_heo_et_al(layout, shape):
    x = random(*shape)
    got = to_numpy(RotaryEmbedding2D((3, 4), num_prefix_tokens=1, layout=layout)(x))
    angles = reference_axial_angles(3, 4, 8, prefix=1)
    angles = angles[:, None] if len(shape) == 4 else angles
    np.testing.assert_allclose(got, reference_rotation_by_angles(x, angles, layout), atol=2e-6)
    np.testing.assert_array_equal(got[:, 0], x[:, 0])  # The class token does not turn.


def test_axial_rotary_logits_depend_on_the_2d_offset_only():
    """q at (r, c) and k at (r', c'): the logit depends on (r' - r, c' - c)."""
    layer = RotaryEmbedding2D((4, 4))
    q, k = random(1, 1, 8, seed=1), random(1, 1, 8, seed=2)
    q_all, k_all = (to_numpy(layer(np.repeat(v, 16, axis=1)))[0] for v in (q, k))
    logits = q_all @ k_all.T
    # (0, 0) -> (1, 2) and (2, 1) -> (3, 3): the same offset.
    np.testing.assert_allclose(
        logits[0 * 4 + 0, 1 * 4 + 2], logits[2 * 4 + 1, 3 * 4 + 3], atol=1e-5
    )
    assert abs(logits[0, 1 * 4 + 2] - logits[0, 2 * 4 + 1]) > 1e-3  # (1, 2) is not (2, 1).


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_mixed_rotary_turns_by_its_learned_frequencies(layout):
    layer = RotaryEmbedding2D((2, 3), num_prefix_tokens=1, mixed=True, layout=layout, seed=3)
    x = random(2, 7, 2, 8)
    got = to_numpy(layer(x))
    frequencies = layer.get_weights()[0]
    assert frequencies.shape == (2, 2, 4)
    rows = np.concatenate([[0], np.arange(6) // 3])
    cols = np.concatenate([[0], np.arange(6) % 3])
    angles = rows[:, None, None] * frequencies[0] + cols[:, None, None] * frequencies[1]
    np.testing.assert_allclose(got, reference_rotation_by_angles(x, angles, layout), atol=2e-5)
    # Heo et al.'s start: per head, both halves have magnitudes 10^(-4k/8), perpendicular.
    magnitude = np.hypot(frequencies[0], frequencies[1])
    np.testing.assert_allclose(
        magnitude, np.tile(10.0 ** (-4 * np.arange(2) / 8), 2)[None].repeat(2, 0), rtol=1e-5
    )
    dot = (
        frequencies[0][:, :2] * frequencies[0][:, 2:]
        + frequencies[1][:, :2] * frequencies[1][:, 2:]
    )
    np.testing.assert_allclose(dot, 0, atol=1e-6)


def test_rotary_2d_errors():
    with pytest.raises(ValueError, match=r"`start_index` must be 0"):
        RotaryEmbedding2D((2, 2))(random(1, 4, 8), start_index=1)
    with pytest.raises(
        ValueError,
        match=r"multiple of 4 features per head.*received 6 features per head, with num_heads=2",
    ):
        PositionalAttention(2, 6, position=RotaryEmbedding2D((2, 2)))
    with pytest.raises(
        ValueError,
        match=r"has 5 tokens; grid_size=\(2, 2\) with num_prefix_tokens=0 needs 0 \+ 2 \* 2 = 4",
    ):
        RotaryEmbedding2D((2, 2))(random(1, 5, 8))
    with pytest.raises(
        ValueError, match=r"\(batch, tokens, heads, head_dim\); received \(1, 4, 8\)"
    ):
        RotaryEmbedding2D((2, 2), mixed=True)(random(1, 4, 8))


# The contract, and the registry.


GRID_LAYERS = {
    "sinusoidal_2d": (
        lambda: SinusoidalEncoding2D(grid_size=(2, 3), num_prefix_tokens=1),
        (2, 7, 8),
    ),
    "learned_2d": (lambda: PositionEmbedding2D((2, 3)), (2, 2, 3, 8)),
    "rotary_2d": (lambda: RotaryEmbedding2D((2, 3), num_prefix_tokens=1), (2, 7, 2, 8)),
    "rotary_mixed": (lambda: RotaryEmbedding2D((2, 3), mixed=True, seed=0), (2, 6, 2, 8)),
}


@pytest.mark.parametrize("name", GRID_LAYERS)
def test_layer_contract(name, tmp_path):
    make, shape = GRID_LAYERS[name]
    mask = np.ones(shape[:2], bool) if len(shape) == 3 else None
    run_layer_test(make, random(*shape), tmp_path=tmp_path, mask=mask)


def test_grid_families_are_registered_apart_from_the_sequence_ones():
    grid = {"sinusoidal_2d", "learned_2d", "rotary_2d", "rotary_mixed"}
    assert not grid & set(families.names())
    assert grid <= set(families.names(include_grid=True))
    from keras_posemb.models import build_text_classifier

    with pytest.raises(
        ValueError,
        match=r"`position` must be a sequence family.*build_image_classifier.*received position='learned_2d'",
    ):
        build_text_classifier(100, 2, 16, position="learned_2d")
    with pytest.raises(
        ValueError,
        match=r"RotaryEmbedding2D\(grid_size=\(rows, cols\)\).*received position='rotary_2d'",
    ):
        PositionalAttention(2, 8, position="rotary_2d")
