"""Grids of image patches: their sizes, and where each token sits.

A 2-D position layer sees patches either as `(batch, rows, cols, features)`
or flattened row by row as `(batch, prefix + rows * cols, features)`, with
`prefix` tokens (a class token, registers) first that have no place on the
grid. Both layouts are resolved here, once for every 2-D layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_posemb.errors import argument_error


def check_grid_size(name: str, value: Any, required: bool = False) -> tuple[int, int] | None:
    """`(rows, cols)` as two positive ints, or `None` where not `required`."""
    if value is None and not required:
        return None
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    if not ok or min(value) < 1:
        raise argument_error(name, value, "a pair of positive ints (rows, cols)")
    return int(value[0]), int(value[1])


def coordinates(rows: int, cols: int, num_prefix_tokens: int = 0):
    """Row and column of each token, float64 `(prefix + rows * cols,)` each,
    patches row by row; prefix tokens get `(0, 0)` (callers mask them)."""
    row, col = np.divmod(np.arange(rows * cols), cols)
    pad = np.zeros(num_prefix_tokens)
    return np.concatenate([pad, row]).astype(np.float64), np.concatenate([pad, col]).astype(
        np.float64
    )


def resolve_grid(who: str, shape, grid_size, num_prefix_tokens: int) -> tuple[int, int]:
    """The `(rows, cols)` of inputs of static `shape`, checked.

    Rank 4 `(batch, rows, cols, features)`: the grid is the shape's (and
    must agree with `grid_size` if that is given). Rank 3 `(batch, tokens,
    features)`: the grid is `grid_size`, and a known token count must be
    `num_prefix_tokens + rows * cols`.
    """
    shape = tuple(shape)
    if len(shape) == 4:
        if shape[1] is None or shape[2] is None:
            raise ValueError(
                f"{who} needs the grid's size when the model is built; received "
                f"inputs.shape={shape} with an unknown number of rows or columns."
            )
        if num_prefix_tokens:
            raise ValueError(
                f"{who} has num_prefix_tokens={num_prefix_tokens}, which needs flattened inputs "
                f"(batch, prefix + rows * cols, features); received inputs.shape={shape}."
            )
        grid = (int(shape[1]), int(shape[2]))
        if grid_size is not None and tuple(grid_size) != grid:
            raise ValueError(
                f"{who}: grid_size={tuple(grid_size)} does not match inputs.shape={shape}."
            )
        return grid
    if len(shape) != 3:
        raise ValueError(
            f"{who} expects `inputs` of shape (batch, rows, cols, features) or (batch, prefix "
            f"+ rows * cols, features); received inputs.shape={shape} of rank {len(shape)}."
        )
    if grid_size is None:
        raise ValueError(
            f"{who} needs `grid_size=(rows, cols)` for flattened inputs of shape {shape}: pass "
            "it to the layer or to the call, or give inputs as (batch, rows, cols, features)."
        )
    rows, cols = grid_size
    if shape[1] is not None and shape[1] != num_prefix_tokens + rows * cols:
        raise ValueError(
            f"{who}: inputs.shape={shape} has {shape[1]} tokens; grid_size={tuple(grid_size)} "
            f"with num_prefix_tokens={num_prefix_tokens} needs "
            f"{num_prefix_tokens} + {rows} * {cols} = {num_prefix_tokens + rows * cols}."
        )
    return rows, cols
