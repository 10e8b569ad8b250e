"""The sinusoidal position formula in float64 NumPy, shared by the layers.

PE(pos, 2i) = sin(pos / max_wavelength^(2i/d)), PE(pos, 2i+1) = cos(same)
(Vaswani et al., 2017, section 3.5).

Every channel is written as sin(pos * frequency + phase), with phase 0 for a
sine channel and pi/2 for a cosine channel. The channel layout then only
decides each channel's (frequency, phase) pair, so the tables below come out
already arranged and the layers never interleave or concatenate tensors.
"""

from __future__ import annotations

import numpy as np

from keras_posemb._args import check_choice, check_number

LAYOUTS = ("interleaved", "concatenated")


def check_layout(layout: str) -> str:
    return check_choice("layout", layout, LAYOUTS)


def check_max_wavelength(max_wavelength: float) -> float:
    # Finite: an infinite wavelength would make every channel constant.
    return check_number("max_wavelength", max_wavelength, low=0, low_open=True)


def channel_frequencies_and_phases(
    width: int, max_wavelength: float = 10000, layout: str = "interleaved"
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency and phase of each of `width` channels, in float64.

    Sine channel i and cosine channel i share frequency
    `max_wavelength ** (-2 i / width)`. With an odd width there is one more
    sine than cosine, so the last interleaved channel is a sine.

    Returns:
        Two float64 arrays of shape `(width,)`: frequencies and phases.
    """
    check_layout(layout)
    check_max_wavelength(max_wavelength)
    num_sines = (width + 1) // 2
    num_cosines = width // 2
    frequencies = float(max_wavelength) ** (-2.0 * np.arange(num_sines, dtype=np.float64) / width)
    if layout == "interleaved":
        channel_frequencies = frequencies[np.arange(width) // 2]
        is_cosine = np.arange(width) % 2 == 1
    else:
        channel_frequencies = np.concatenate([frequencies, frequencies[:num_cosines]])
        is_cosine = np.arange(width) >= num_sines
    phases = np.where(is_cosine, np.pi / 2, 0.0)
    return channel_frequencies, phases


def sinusoidal_table(
    length: int, width: int, max_wavelength: float = 10000, layout: str = "interleaved"
) -> np.ndarray:
    """The sinusoidal encoding of positions `0 .. length - 1`, float64.

    Args:
        length: number of positions (rows).
        width: number of channels (columns).
        max_wavelength: the 10000 of the formula.
        layout: `"interleaved"` (sin, cos, sin, cos, ...) as in the paper, or
            `"concatenated"` (all sines, then all cosines) as in tensor2tensor
            and the TensorFlow transformer tutorial.

    Returns:
        A float64 NumPy array of shape `(length, width)`.
    """
    frequencies, phases = channel_frequencies_and_phases(width, max_wavelength, layout)
    positions = np.arange(length, dtype=np.float64)
    return np.sin(np.outer(positions, frequencies) + phases)
