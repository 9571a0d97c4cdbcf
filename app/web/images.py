"""Heat maps over the input plane as PNG images (Pillow), on the shared palette.

Measured choice: a 100×100 map as a PNG data URI is ~3–6 kB and encodes in well under a
millisecond (thumbnails go as BMP, faster still); the same map as SVG rectangles would be
10,000 elements the browser has to lay out on every frame of play. Points of the dataset
are drawn over the image in SVG.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .format import NEGATIVE, POSITIVE, ZERO

Array = NDArray[np.float64]
BMP_MAX_PIXELS = 48 * 48  # thumbnails this small are written as BMP
CLASS_COLOURS = np.array([(230, 120, 20), (30, 100, 200), (0, 137, 123), (142, 68, 173),
                          (194, 24, 91), (109, 76, 65), (94, 53, 177), (120, 144, 156)],
                         dtype=np.float64)  # (8, 3): one colour per class, for multiclass


def signed(values: Array, activation: str | None) -> Array:
    """Return values mapped to [−1, 1]: bounded activations by their range, others by scale."""
    if activation in ("sigmoid", "softmax"):
        return np.clip(2.0 * values - 1.0, -1.0, 1.0)
    if activation == "tanh":
        return np.clip(values, -1.0, 1.0)
    finite = values[np.isfinite(values)]
    scale = float(np.abs(finite).max()) if finite.size else 1.0
    return np.clip(values / (scale or 1.0), -1.0, 1.0)


def _rgb(t: Array) -> NDArray[np.uint8]:
    """Return colours (…, 3) for t in [−1, 1]: orange ← white → blue."""
    t = np.nan_to_num(t, nan=0.0)
    end = np.where(t[..., None] >= 0, np.array(POSITIVE, dtype=np.float64),
                   np.array(NEGATIVE, dtype=np.float64))
    zero = np.array(ZERO, dtype=np.float64)
    rgb = zero + (end - zero) * np.abs(t)[..., None]
    return np.round(rgb).astype(np.uint8)


def png_uri(rgb: NDArray[np.uint8]) -> str:
    """Return an (h, w, 3) image as a data URI: PNG, or BMP when small.

    A 32×32 thumbnail is ~3 kB either way, but BMP is written ~8× faster (no filtering,
    no zlib): 26 neuron maps cost under 1 ms instead of ~7. Larger maps compress, so PNG.
    """
    buf = io.BytesIO()
    image = Image.fromarray(rgb, "RGB")
    if rgb.shape[0] * rgb.shape[1] <= BMP_MAX_PIXELS:
        image.save(buf, format="BMP")
        kind = "bmp"
    else:
        image.save(buf, format="PNG", optimize=False, compress_level=1)
        kind = "png"
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def value_map(values: Array, resolution: int, activation: str | None,
              discrete: bool = False) -> str:
    """Return one neuron's (or one output's) map as a PNG data URI."""
    t = signed(values, activation).reshape(resolution, resolution)
    if discrete:
        t = np.sign(t)
    return png_uri(_rgb(t))


def value_maps(signed_maps: list[Array]) -> list[str]:
    """Return data URIs of maps already in [−1, 1] (equal shapes), coloured in one batch."""
    if not signed_maps:
        return []
    rgb = _rgb(np.stack(signed_maps))  # (maps, h, w, 3)
    return [png_uri(np.ascontiguousarray(one)) for one in rgb]


def class_map(probabilities: Array, resolution: int, discrete: bool = False) -> str:
    """Return a multiclass output map: each point in its arg-max class's colour."""
    k = probabilities.shape[1]
    best = probabilities.argmax(axis=1)  # (points,)
    strength = np.ones(best.shape) if discrete else np.clip(
        (probabilities.max(axis=1) - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
    colours = CLASS_COLOURS[best % len(CLASS_COLOURS)]  # (points, 3)
    zero = np.array(ZERO, dtype=np.float64)
    rgb = zero + (colours - zero) * (0.25 + 0.75 * strength)[:, None]
    return png_uri(np.round(rgb).astype(np.uint8).reshape(resolution, resolution, 3))


def point_colour(target: Array, kind: str) -> str:
    """Return the fill of one data point from its target row."""
    if kind == "regression":
        r, g, b = _rgb(np.clip(np.array([target[0]]), -1, 1))[0]
        return f"rgb({r},{g},{b})"
    if target.shape[0] == 1:
        return f"rgb{POSITIVE}" if target[0] > 0.5 else f"rgb{NEGATIVE}"
    r, g, b = (int(v) for v in CLASS_COLOURS[int(np.argmax(target)) % len(CLASS_COLOURS)])
    return f"rgb({r},{g},{b})"
