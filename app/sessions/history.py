"""Loss history: bounded in the store, decimated for display, extremes always kept.

Decimation splits the curve into buckets and keeps each bucket's first, last, lowest and
highest point, so the global first, last, minimum and maximum always survive and a spike
never disappears from the plot.
"""

from __future__ import annotations

import itertools

import numpy as np

STORE_POINTS = 20_000  # points kept per session; beyond, the stored history is decimated


def decimate(steps: list[int], losses: list[float], max_points: int) -> tuple[list[int],
                                                                             list[float]]:
    """Return at most `max_points` points keeping first, last, minima and maxima."""
    n = len(steps)
    if n <= max_points:
        return list(steps), list(losses)
    values = np.asarray(losses, dtype=np.float64)  # (n,)
    buckets = max(1, max_points // 4)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep: set[int] = {0, n - 1}
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        chunk = values[lo:hi]
        keep.update((lo, hi - 1, lo + int(chunk.argmin()), lo + int(chunk.argmax())))
    chosen = sorted(keep)  # ≤ 4 per bucket ≤ max_points
    return [steps[i] for i in chosen], [losses[i] for i in chosen]


def append(steps: list[int], losses: list[float], new_steps: list[int],
           new_losses: list[float]) -> tuple[list[int], list[float]]:
    """Return the history with new points added, decimated to STORE_POINTS if needed."""
    s, l = steps + new_steps, losses + new_losses
    if len(s) > STORE_POINTS:
        return decimate(s, l, STORE_POINTS // 2)
    return s, l
