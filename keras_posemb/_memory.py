"""Sizes that cannot fit in memory are refused up front, with the number.

A table of a billion rows, a data set of a hundred billion sentences or
attention over 300,000 positions fails deep inside a backend, or runs until
the machine swaps; these checks say first what it would need.
"""

from __future__ import annotations

import os
from typing import Any

from keras_posemb.errors import argument_error


def physical_memory() -> int | None:
    """This machine's memory in bytes, or `None` where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gib(size: float) -> str:
    return f"{size / 2**30:,.1f} GiB"


def check_fits(name: str, value: Any, needed: float, what: str) -> None:
    """Raises `ArgumentError` naming `name=value` if `needed` bytes exceed
    this machine's memory; `what` says what would take them."""
    total = physical_memory()
    if total is not None and needed > total:
        raise argument_error(
            name,
            value,
            f"a size that fits in memory ({what} would need about {gib(needed)}; this machine "
            f"has {gib(total)})",
        )
