"""Independent float64 references and helpers for the tests."""

import os
import subprocess
import sys
import textwrap

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


def run_python(code, cwd, args=()):
    """Runs `code` in a fresh Python process and returns its stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
