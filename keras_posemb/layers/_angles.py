"""Sines of `position * frequency + phase`, exact to about 1 ulp of float32.

Shared by `SinusoidalEncoding` (one sine or cosine per channel) and
`RotaryEmbedding` (the sine and cosine of each channel pair's angle).

Float32 angles `p * frequency` lose about 6e-3 at position 100,000, so
positions are split as `p = BLOCK * high + low`. Both parts index a small
table computed in float64, and `sin(a + b) = sin a cos b + cos a sin b`
joins them. Contiguous positions known when tracing are read instead from a
cached table computed in float64, so a compiled call costs no more than
reading a constant.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_posemb.numerics.angles import BLOCK

# Contiguous positions up to this end are read from a cached table; the
# table grows to the next power of two, so inputs that lengthen rebuild it
# a few times only.
MAX_CACHED_ROWS = 16384


def _table_dtype(dtype):
    return "float64" if dtype == "float64" else "float32"


class AngleTable:
    """`sin(p * frequencies + phases)` for integer `0 <= p < MAX_POSITION`.

    Args:
        frequencies: float64 array `(width,)`, radians per position.
        phases: float64 array `(width,)`, added to each angle (pi/2 makes
            a cosine).
    """

    def __init__(self, frequencies: np.ndarray, phases: np.ndarray):
        self.frequencies = np.asarray(frequencies, np.float64)
        self.phases = np.asarray(phases, np.float64)
        offsets = np.arange(BLOCK, dtype=np.float64)
        low = np.outer(offsets, self.frequencies) + self.phases
        high = np.outer(offsets * BLOCK, self.frequencies)
        parts = {
            "low_sin": np.sin(low),
            "low_cos": np.cos(low),
            "high_sin": np.sin(high),
            "high_cos": np.cos(high),
        }
        # NumPy, not weights: turned into constants when traced.
        self._parts = {
            dtype: {name: part.astype(dtype) for name, part in parts.items()}
            for dtype in ("float32", "float64")
        }
        self._cached = {}

    def exact(self, length: int) -> np.ndarray:
        """Rows `0 .. length - 1` in float64 NumPy."""
        positions = np.arange(length, dtype=np.float64)
        return np.sin(np.outer(positions, self.frequencies) + self.phases)

    def gather(self, positions, dtype: str):
        """Rows for integer `positions` of any shape: `positions.shape + (width,)`."""
        parts = self._parts[_table_dtype(dtype)]
        high = ops.floor_divide(positions, BLOCK)
        low = positions - high * BLOCK

        def rows(name, index):
            return ops.take(ops.convert_to_tensor(parts[name]), index, axis=0)

        # sin(a + b) with a = BLOCK * high * frequency, b = low * frequency + phase.
        encoding = rows("high_sin", high) * rows("low_cos", low) + rows("high_cos", high) * rows(
            "low_sin", low
        )
        return ops.cast(encoding, dtype)

    def contiguous(self, start, length, dtype: str):
        """Rows `start .. start + length - 1`; `start` an int or an int tensor."""
        end = start + length
        if not isinstance(end, int) or end > MAX_CACHED_ROWS:
            return self.gather(ops.arange(length, dtype="int32") + start, dtype)
        table_dtype = _table_dtype(dtype)
        cached = self._cached.get(table_dtype)
        if cached is None or len(cached) < end:
            rows = min(MAX_CACHED_ROWS, 1 << (end - 1).bit_length())
            cached = self.exact(rows).astype(table_dtype)
            self._cached[table_dtype] = cached
        return ops.cast(ops.convert_to_tensor(cached[start:end]), dtype)
