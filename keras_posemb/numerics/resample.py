"""Resampling learned position tables to another length or grid.

A learned table is tied to the length (or patch grid) it was trained on. To
use a model on longer or shorter sequences, or on larger or smaller images,
the table is interpolated: row `i` of the new table reads the old table at
`(i + 0.5) * old / new - 0.5`, pixel centres aligned as in Pillow, TensorFlow
and PyTorch's `align_corners=False`. When shrinking with `antialias=True`
the kernel is widened by the shrink factor, so every old row contributes
(Pillow's resampling, and TensorFlow's `antialias=True`); when growing,
`antialias` changes nothing.

Resampling is linear, so it is a matrix per axis (`resize_matrix`), computed
here in float64 and applied to the table with one `einsum`: the same numbers
on every backend (the backends' own resize functions differ, for example in
the cubic kernel: PyTorch uses a = -0.75, Pillow, TensorFlow and JAX
a = -0.5, which this module uses).
"""

from __future__ import annotations

import math

import numpy as np

from keras_posemb._args import check_bool, check_choice, check_int
from keras_posemb._memory import check_fits

# float64 arrays of the matrix's size that computing it holds at once.
MATRIX_TEMPORARIES = 4


def _triangle(x):
    x = np.abs(x)
    return np.where(x < 1, 1 - x, 0.0)


def _keys_cubic(x, a=-0.5):
    """Keys' cubic convolution kernel (1981), a = -0.5 as in Pillow."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


# name: (support radius, kernel)
KERNELS = {"linear": (1.0, _triangle), "cubic": (2.0, _keys_cubic)}
# The names of the 2-D layers' `interpolation` argument.
GRID_INTERPOLATIONS = {"bilinear": "linear", "bicubic": "cubic"}


def check_interpolation(interpolation: str, grid: bool = False) -> str:
    """`interpolation`, checked; for a grid ("bilinear"/"bicubic") returned
    as the kernel's name ("linear"/"cubic")."""
    if grid:
        return GRID_INTERPOLATIONS[
            check_choice("interpolation", interpolation, GRID_INTERPOLATIONS)
        ]
    return check_choice("interpolation", interpolation, tuple(KERNELS))


def resize_matrix(
    old: int, new: int, interpolation: str = "linear", antialias: bool = True
) -> np.ndarray:
    """The `(new, old)` float64 matrix that resamples `old` rows to `new`.

    Each row sums to 1 (weights near the edges are renormalised, as in
    Pillow), and `old == new` gives the identity.
    """
    old, new = check_int("old", old), check_int("new", new)
    check_fits(
        "new", new, 8 * MATRIX_TEMPORARIES * new * old,
        f"a float64 resampling matrix of {new:,} x {old:,}",
    )  # fmt: skip
    support, kernel = KERNELS[check_interpolation(interpolation)]
    scale = old / new
    # Widening the kernel when shrinking is what antialiasing is.
    stretch = max(scale, 1.0) if check_bool("antialias", antialias) else 1.0
    centres = (np.arange(new, dtype=np.float64) + 0.5) * scale
    sources = np.arange(old, dtype=np.float64) + 0.5
    weights = kernel((sources[None, :] - centres[:, None]) / stretch)
    # Never zero: every centre lies within half a row of a source row.
    return weights / weights.sum(axis=1, keepdims=True)


def resample_table(
    table: np.ndarray,
    shape: int | tuple[int, ...],
    interpolation: str = "linear",
    antialias: bool = True,
    argument: str = "shape",
) -> np.ndarray:
    """A table `(*old_shape, width)` resampled to `(*shape, width)`, float64.

    Args:
        table: a 1-D table `(length, width)` or a grid `(rows, cols, width)`.
        shape: the new length, or the new `(rows, cols)`.
        interpolation: `"linear"` or `"cubic"` (separable along each axis:
            bilinear and bicubic on a grid).
        antialias: widen the kernel when shrinking.
        argument: the caller's name for `shape`, in the error that refuses
            a size that cannot fit in memory.
    """
    table = np.asarray(table, np.float64)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if table.ndim != len(shape) + 1:
        raise ValueError(
            f"Argument `shape` {shape} needs a table of rank {len(shape) + 1} (positions, then "
            f"features); received a table of shape {table.shape}."
        )
    width, sizes, values = table.shape[-1], list(table.shape[:-1]), 0.0
    for axis, size in enumerate(shape):  # Each axis' matrix, input and output at once.
        before = math.prod(sizes)
        matrix = MATRIX_TEMPORARIES * float(size) * sizes[axis]
        sizes[axis] = size
        values = max(values, matrix + width * float(before + math.prod(sizes)))
    check_fits(
        argument, shape if len(shape) > 1 else shape[0], 8 * values,
        f"resampling to a float64 table of {' x '.join(f'{n:,}' for n in shape)} x {width}",
    )  # fmt: skip
    for axis, size in enumerate(shape):
        matrix = resize_matrix(table.shape[axis], size, interpolation, antialias)
        table = np.moveaxis(np.tensordot(matrix, table, axes=([1], [axis])), 0, axis)
    return table
