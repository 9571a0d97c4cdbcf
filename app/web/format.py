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


def nums(values: NDArray[np.float64], decimals: int = 7) -> list[str]:
    """Return `num` of every value (flattened): formatted in one string, then split."""
    vals = values.astype(np.float64, copy=False).ravel().tolist()
    if not vals:
        return []
    text = (f"\0%.{decimals}f" * len(vals)) % tuple(vals) + "\0"  # \0 never appears in a number
    if "-" in text or "n" in text:  # negatives, nan, inf
        zero = f"{0.0:.{decimals}f}"
        text = text.replace("-", "−").replace("nan", "NaN").replace("inf", "∞")
        for _ in range(2):  # a −0.000 takes the separator after it: twice finds its neighbour
            text = text.replace(f"\0−{zero}\0", f"\0{zero}\0")
    return text[1:-1].split("\0")


def colour(value: float, scale: float) -> str:
    """Return the palette colour of value relative to ±scale, as an rgb() string (the
    readable definition `colours` computes in bulk, and is tested against)."""
    t = max(-1.0, min(1.0, value / scale)) if math.isfinite(value) and scale > 0 else 0.0
    end = POSITIVE if t >= 0 else NEGATIVE
    k = abs(t)
    r, g, b = (round(z + (e - z) * k) for z, e in zip(ZERO, end, strict=True))
    return f"rgb({r},{g},{b})"


def colours(values: NDArray[np.float64], scale: float) -> tuple[list[str], list[str]]:
    """Return `colour` and `ink` of every value (flattened), computed as arrays."""
    v = values.ravel()
    if v.size <= SCALAR_SIZE:  # NumPy's fixed cost is larger than a few scalar steps
        return _colours_scalar(v.tolist(), scale)
    if scale > 0 and math.isfinite(scale):
        with np.errstate(over="ignore"):
            t = np.where(np.isfinite(v), v, 0.0) / scale  # non-finite values are white
        np.minimum(t, 1.0, out=t)
        np.maximum(t, -1.0, out=t)
    else:
        t = np.zeros(v.shape)
    k = np.abs(t)
    rgb = np.rint(_ENDS[(t >= 0).view(np.int8)] * k[:, None] + _ZERO).astype(np.int64)
    packed = ((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).tolist()  # (values,)
    get = _RGB.get
    return ([get(p) or _rgb_text(p) for p in packed],
            ["#fff" if d else "#111" for d in (k > 0.6).tolist()])


def _rgb_text(packed: int) -> str:
    """Return (and remember) the rgb() text of a colour packed as 0xRRGGBB."""
    text = _RGB[packed] = f"rgb({packed >> 16},{(packed >> 8) & 255},{packed & 255})"
    return text


def _colours_scalar(values: list[float], scale: float) -> tuple[list[str], list[str]]:
    """Return `colours` one value at a time: the arithmetic of `colour` and `ink`, inlined."""
    zr, zg, zb = ZERO
    usable, isfinite = scale > 0 and math.isfinite(scale), math.isfinite
    background, foreground = [], []
    for x in values:
        t = max(-1.0, min(1.0, x / scale)) if usable and isfinite(x) else 0.0
        dr, dg, db = _UP if t >= 0 else _DOWN
        k = abs(t)
        p = (round(zr + dr * k) << 16) | (round(zg + dg * k) << 8) | round(zb + db * k)
        background.append(_RGB.get(p) or _rgb_text(p))
        foreground.append("#fff" if k > 0.6 else "#111")
    return background, foreground


SCALAR_SIZE = 40  # up to this many values, `colours` goes value by value (measured faster)
_UP = tuple(e - z for e, z in zip(POSITIVE, ZERO, strict=True))  # white → blue, per channel
_DOWN = tuple(e - z for e, z in zip(NEGATIVE, ZERO, strict=True))  # white → orange
_ZERO = np.array(ZERO, dtype=np.float64)
_ENDS = np.array([NEGATIVE, POSITIVE], dtype=np.float64) - _ZERO  # (2, 3): t < 0, t ≥ 0
_RGB: dict[int, str] = {}  # packed colour → its rgb() text (at most 2 × 256 shades)


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
