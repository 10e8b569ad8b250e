"""Independent float64 references and helpers for the tests."""

import math

import numpy as np

# Two units in the last place near 1.0 of each dtype.
TWO_ULP = {"float32": 2 * 2.0**-23, "float16": 2 * 2.0**-10, "bfloat16": 2 * 2.0**-7}


def reference_encoding(positions, width, max_wavelength=10000.0, layout="interleaved"):
    """PE(pos, 2i) = sin(pos / w^(2i/d)), PE(pos, 2i+1) = cos(...), float64.

    Written channel by channel from the paper's formula. In the
    concatenated layout, sine i sits in channel i and cosine i in channel
    ceil(d/2) + i.
    """
    positions = np.asarray(positions, dtype=np.float64)
    out = np.full(positions.shape + (width,), np.nan)
    for i in range((width + 1) // 2):
        angle = positions / float(max_wavelength) ** (2.0 * i / width)
        if layout == "interleaved":
            sin_channel, cos_channel = 2 * i, 2 * i + 1
        else:
            sin_channel, cos_channel = i, (width + 1) // 2 + i
        out[..., sin_channel] = np.sin(angle)
        if cos_channel < width:
            out[..., cos_channel] = np.cos(angle)
    assert not np.isnan(out).any()
    return out


def installed_backends():
    """The Keras backends this environment can run."""
    import importlib.util

    return [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]


def to_numpy(x, dtype=np.float64):
    """A tensor of any backend (bfloat16 included) as a NumPy array."""
    import keras

    if keras.backend.standardize_dtype(x.dtype) in ("bfloat16", "float16"):
        x = keras.ops.cast(x, "float32")  # Exact: every value fits.
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=dtype)


def compiled(function):
    """`function` compiled the way the active backend compiles: tf.function
    with XLA, jax.jit, or torch.compile (tracing only, no code generation)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    import torch

    return torch.compile(function, backend="aot_eager")


def reference_rotation(x, positions, layout="half", max_wavelength=10000.0, scaling_factor=1.0):
    """RoPE in float64, pair by pair: x `(..., sequence, d)`, positions `(sequence,)`.

    Pair i (features i and i + d/2 in the half layout, 2i and 2i + 1 in the
    interleaved one) turns by (p / scaling_factor) / max_wavelength^(2i/d).
    """
    x = np.asarray(x, np.float64)
    d = x.shape[-1]
    out = np.empty_like(x)
    for i in range(d // 2):
        angle = np.asarray(positions, np.float64) / scaling_factor / max_wavelength ** (2 * i / d)
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        a, b = (i, i + d // 2) if layout == "half" else (2 * i, 2 * i + 1)
        first, second = x[..., a : a + 1], x[..., b : b + 1]
        out[..., a : a + 1] = first * cos - second * sin
        out[..., b : b + 1] = second * cos + first * sin
    return out


def reference_t5_bucket(offset, num_buckets=32, max_distance=128, bidirectional=True):
    """T5's bucket of the offset `key - query`, from the paper's code, for one int."""
    bucket = 0
    n = -offset
    if bidirectional:
        num_buckets //= 2
        if n < 0:
            bucket += num_buckets
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return bucket + n
    large = max_exact + int(
        math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
        + 1e-9  # Exact arithmetic: 0.75 * 8 is 6, not 5.999...
    )
    return bucket + min(large, num_buckets - 1)


def reference_rope_frequencies(rope_type, dim, base=10000.0, length=None, **p):
    """The angle per position of each pair i < dim/2, and the attention factor,
    pair by pair in float64 from each paper's formula (see rope_scaling.py)."""
    import math

    theta = [base ** (-2 * i / dim) for i in range(dim // 2)]
    if rope_type.startswith("dynamic_"):  # The variant with s = L / L0 beyond L0.
        l0 = p["original_max_position_embeddings"]
        if not length or length <= l0:
            return np.array(theta), 1.0
        llama3 = {"low_freq_factor": 1.0, "high_freq_factor": 4.0}  # Llama 3.1's, the defaults.
        variant = rope_type.removeprefix("dynamic_")
        scaled = {**(llama3 if variant == "llama3" else {}), **p, "factor": length / l0}
        return reference_rope_frequencies(variant, dim, base, length, **scaled)
    if rope_type == "linear":  # Chen et al.: positions divided by s.
        return np.array([t / p["factor"] for t in theta]), 1.0
    if rope_type in ("ntk", "dynamic"):  # bloc97: base * s^(d / (d - 2)).
        scale = p["factor"]
        if rope_type == "dynamic":
            l0 = p["original_max_position_embeddings"]
            scale = 1.0 if length <= l0 else p["factor"] * length / l0 - (p["factor"] - 1)
        new_base = base * scale ** (dim / (dim - 2))
        return np.array([new_base ** (-2 * i / dim) for i in range(dim // 2)]), 1.0
    if rope_type == "yarn":  # Peng et al., with the ramp over pair indices of their code.
        s, l0 = p["factor"], p["original_max_position_embeddings"]

        def index_of(rotations):  # Solves L0 / wavelength(i) = rotations for i.
            return dim * math.log(l0 / (2 * math.pi * rotations)) / (2 * math.log(base))

        low = max(math.floor(index_of(p.get("beta_fast", 32))), 0)
        high = min(math.ceil(index_of(p.get("beta_slow", 1))), dim - 1)
        out = []
        for i, t in enumerate(theta):
            gamma = min(max((i - low) / (high - low), 0.0), 1.0)  # 1: interpolated.
            out.append((1 - gamma) * t + gamma * t / s)
        return np.array(out), 0.1 * math.log(s) + 1.0
    if rope_type == "longrope":  # Ding et al.: one factor per pair, short or long.
        l0 = p["original_max_position_embeddings"]
        factors = p["long_factor"] if length and length > l0 else p["short_factor"]
        attention = math.sqrt(1 + math.log(p["factor"]) / math.log(l0))
        return np.array([t / f for t, f in zip(theta, factors)]), attention
    if rope_type == "llama3":  # By wavelength: kept, divided by s, or blended.
        s, l0 = p["factor"], p["original_max_position_embeddings"]
        low, high = p["low_freq_factor"], p["high_freq_factor"]
        out = []
        for t in theta:
            wavelength = 2 * math.pi / t
            if wavelength < l0 / high:
                out.append(t)
            elif wavelength > l0 / low:
                out.append(t / s)
            else:
                smooth = (l0 / wavelength - low) / (high - low)
                out.append((1 - smooth) * t / s + smooth * t)
        return np.array(out), 1.0
    return np.array(theta), 1.0


def reference_rotation_by(x, positions, frequencies, attention_factor=1.0, layout="half"):
    """RoPE in float64 with given per-pair `frequencies` on the first
    `2 * len(frequencies)` channels of `x` `(..., sequence, d)`, times
    `attention_factor`; the other channels pass through."""
    x = np.asarray(x, np.float64)
    rotary = 2 * len(frequencies)
    out = x.copy()
    for i, frequency in enumerate(frequencies):
        angle = np.asarray(positions, np.float64) * frequency
        cos = attention_factor * np.cos(angle)[:, None]
        sin = attention_factor * np.sin(angle)[:, None]
        a, b = (i, i + rotary // 2) if layout == "half" else (2 * i, 2 * i + 1)
        first, second = x[..., a : a + 1], x[..., b : b + 1]
        out[..., a : a + 1] = first * cos - second * sin
        out[..., b : b + 1] = second * cos + first * sin
    return out


def reference_grid_encoding(rows, cols, width, max_wavelength=10000.0):
    """timm's `build_sincos2d_pos_embed` in float64, from its formula: with
    bands b_k = T^(-k / (d/4)), patch (r, c) gets [sin(r b), cos(r b),
    sin(c b), cos(c b)]; shape (rows, cols, width), width a multiple of 4."""
    bands = float(max_wavelength) ** (-np.arange(width // 4) / (width // 4))
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    r, c = r[..., None] * bands, c[..., None] * bands
    return np.concatenate([np.sin(r), np.cos(r), np.sin(c), np.cos(c)], axis=-1)


def reference_rotation_by_angles(x, angles, layout="half"):
    """x `(..., d)` with pair k turned by `angles[..., k]` (broadcast), as
    complex numbers: pair k is (k, k + d/2) in the half layout, (2k, 2k + 1)
    in the interleaved one."""
    x = np.asarray(x, np.float64)
    half = x.shape[-1] // 2
    first, second = (
        (slice(0, half), slice(half, None))
        if layout == "half"
        else (slice(0, None, 2), slice(1, None, 2))
    )
    z = (x[..., first] + 1j * x[..., second]) * np.exp(1j * np.asarray(angles, np.float64))
    out = np.empty_like(x)
    out[..., first], out[..., second] = z.real, z.imag
    return out


def reference_axial_angles(rows, cols, head_dim, prefix=0, base=100.0):
    """Heo et al.'s RoPE-Axial angles, float64 `(prefix + rows * cols, head_dim / 2)`:
    token t at (r, c) turns pair k < d/4 by r * base^(-4k/d) and pair d/4 + k
    by c * base^(-4k/d); prefix tokens do not turn."""
    angles = np.zeros((prefix + rows * cols, head_dim // 2))
    for t in range(rows * cols):
        r, c = divmod(t, cols)
        for k in range(head_dim // 4):
            frequency = base ** (-4.0 * k / head_dim)
            angles[prefix + t, k] = r * frequency
            angles[prefix + t, head_dim // 4 + k] = c * frequency
    return angles


def reference_bias_table(bias_of, queries, keys, heads):
    """`(heads, query, key)` float64 from `bias_of(i, j)` (a `(heads,)` bias,
    or None for a key a causal form masks, given -1e9 here)."""
    rows = [[bias_of(i, j) for j in keys] for i in queries]
    table = [[np.full(heads, -1e9) if b is None else b for b in row] for row in rows]
    return np.moveaxis(np.array(table, np.float64), -1, 0)


def reference_kerple_bias(log_r1, log_r2, i, j, bidirectional=True):
    """Chi et al.'s logarithmic kernel, float64 `(heads,)` for query i and key j:
    -r1 log(1 + r2 |i - j|), with the pair of keys after the query when
    bidirectional (row 1 of the weights), and None for a later key when causal."""
    if not bidirectional and j > i:
        return None
    direction = 1 if j > i else 0
    r1, r2 = (np.exp(np.asarray(w, np.float64)[direction]) for w in (log_r1, log_r2))
    return -r1 * np.log(1.0 + r2 * abs(i - j))


def reference_fire_bias(weights, i, j, bidirectional=True):
    """Li et al.'s FIRE, float64 `(heads,)` for query i and key j: an MLP of
    psi(i - j) / psi(max(L, i)), psi(x) = log(c x + 1); with the sign of
    i - j and max(L, i, j) when bidirectional; None for a later key when causal.
    `weights`: log c, log L, hidden kernel and bias, output kernel and bias."""
    if not bidirectional and j > i:
        return None
    log_c, log_threshold, w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    c, threshold = math.exp(log_c), math.exp(log_threshold)

    def psi(x):
        return math.log(c * x + 1.0)

    reach = max(i, j) if bidirectional else i
    x = np.sign(i - j) * psi(abs(i - j)) / psi(max(threshold, reach))
    return np.maximum(x * w1 + b1, 0.0) @ w2 + b2
