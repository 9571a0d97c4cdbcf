"""Histograms of the diagnostics view: bars of a distribution, with both axes labelled."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
WIDTH, HEIGHT = 200.0, 64.0  # the plotting area, in SVG units
LEFT = 30.0  # room for the count axis


@dataclass(frozen=True)
class Histogram:
    """Bars of one distribution, ready to draw: x, y, height and hover text of each."""

    bars: list[tuple[float, float, float, str]]
    bar_width: float
    low: str  # the value axis's ends
    high: str
    top: int  # the count axis's top: the tallest bar's count
    count: int  # finite values counted
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT


def histogram(values: Array, bins: int = 24, bounds: tuple[float, float] | None = None
              ) -> Histogram:
    """Return a histogram of the finite values (over `bounds` when given)."""
    finite = values[np.isfinite(values)].ravel()
    if finite.size == 0:
        return Histogram([], 0.0, "", "", 0, 0)
    lo, hi = bounds if bounds else (float(finite.min()), float(finite.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges, spans = _bins(lo, hi, bins)
    counts = _counts(finite, edges, lo, hi, bins)
    top = max(int(counts.max()), 1)
    bar_width = WIDTH / bins
    bars = [(LEFT + i * bar_width, HEIGHT - HEIGHT * c / top, HEIGHT * c / top,
             f"{c} values in {span}")
            for i, (c, span) in enumerate(zip(counts.tolist(), spans, strict=True))]
    return Histogram(bars, bar_width, f"{lo:.3g}", f"{hi:.3g}", top, int(finite.size))


@lru_cache(maxsize=256)
def _bins(lo: float, hi: float, bins: int) -> tuple[Array, list[str]]:
    """Return the bin edges of [lo, hi] (as `np.histogram` makes them) and each bin's text
    (the same few ranges recur: an activation's bounds are fixed)."""
    edges = np.linspace(lo, hi, bins + 1)  # (bins + 1,)
    return edges, [f"[{edges[i]:.3g}, {edges[i + 1]:.3g})" for i in range(bins)]


def _counts(values: Array, edges: Array, lo: float, hi: float, bins: int) -> NDArray[np.intp]:
    """Return `np.histogram(values, bins, range=(lo, hi))[0]`, without its generic checks.

    Its arithmetic exactly: each value's bin from (x − lo)/(hi − lo)·bins, the last edge in
    the last bin, then one step down or up where rounding put a value across an edge.
    """
    x = values[(values >= lo) & (values <= hi)]
    index = ((x - lo) / (hi - lo) * bins).astype(np.intp)
    index[index == bins] -= 1
    index[x < edges[index]] -= 1
    index[(x >= edges[index + 1]) & (index != bins - 1)] += 1
    return np.bincount(index, minlength=bins)
