"""How numbers, colours and the origin's notation look on the page.

One diverging palette (orange for negative, white at zero, blue for positive — readable for
colour-blind users, never red against green) colours data, neurons, weights and matrix
cells alike, as in TensorFlow Playground. Labels follow the question's notation:
`₀a¹₂` is observation 0, layer 1, neuron 2; `w¹₀,₀` is the weight of layer 1 → 2 from
neuron 0 to neuron 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

SUB = str.maketrans("0123456789-,", "₀₁₂₃₄₅₆₇₈₉₋,")
SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
NEGATIVE = (230, 120, 20)  # orange
POSITIVE = (30, 100, 200)  # blue
ZERO = (247, 247, 247)


def sub(value: int | str) -> str:
    """Return value in subscript digits."""
    return str(value).translate(SUB)


def sup(value: int | str) -> str:
    """Return value in superscript digits."""
    return str(value).translate(SUP)


def num(value: float | None, decimals: int = 7) -> str:
    """Return a number with a fixed count of decimals ('—' for missing, ∞ for infinite)."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = f"{value:.{decimals}f}"
    if text.startswith("-"):
        text = "−" + text[1:]
        if float(value) == 0 or set(text[1:]) <= {"0", "."}:
            text = text[1:]
    return text


def exact(value: float | None) -> str:
    """Return the shortest representation that round-trips (for hover titles)."""
    return "—" if value is None else repr(float(value))


def colour(value: float, scale: float) -> str:
    """Return the palette colour of value relative to ±scale, as an rgb() string."""
    t = max(-1.0, min(1.0, value / scale)) if math.isfinite(value) and scale > 0 else 0.0
    end = POSITIVE if t >= 0 else NEGATIVE
    k = abs(t)
    r, g, b = (round(z + (e - z) * k) for z, e in zip(ZERO, end, strict=True))
    return f"rgb({r},{g},{b})"


def ink(value: float, scale: float) -> str:
    """Return a text colour readable on colour(value, scale)."""
    if not math.isfinite(value) or scale <= 0:
        return "#111"
    return "#fff" if abs(value) / scale > 0.6 else "#111"


def scale_of(matrix: NDArray[np.float64]) -> float:
    """Return the largest finite magnitude in the matrix (1 when there is none)."""
    finite = matrix[np.isfinite(matrix)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    return top if top > 0 else 1.0
