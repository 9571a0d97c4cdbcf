"""Loss history: bounded in the store, decimated for display, extremes always kept.

A history is two NumPy arrays of equal length — steps (int64) and losses (float64) — that
are replaced, never changed in place: appending a step's points costs a copy of the
arrays (a memcpy), where lists cost a conversion of every element each time the session
was saved.

Decimation splits the curve into equal buckets and keeps each bucket's first, last,
lowest and highest point, so the global first, last, minimum and maximum always survive
and a spike never disappears from the plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

STORE_POINTS = 20_000  # points kept per session; beyond, the stored history is decimated

Steps = NDArray[np.int64]
Losses = NDArray[np.float64]


def empty() -> tuple[Steps, Losses]:
    """Return an empty history."""
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)


def of(steps: Sequence[int] | Steps, losses: Sequence[float] | Losses) -> tuple[Steps, Losses]:
    """Return the history as arrays (from lists or arrays)."""
    return np.asarray(steps, dtype=np.int64), np.asarray(losses, dtype=np.float64)


def keep(losses: Losses, max_points: int) -> NDArray[np.intp]:
    """Return the sorted indices decimation keeps (all of them when ≤ `max_points`)."""
    n = losses.shape[0]
    if n <= max_points:
        return np.arange(n)
    size = -(-n // max(1, max_points // 4))  # bucket length: ≤ max_points // 4 buckets
    count = -(-n // size)
    starts = np.arange(count) * size  # (count,)
    ends = np.minimum(starts + size, n) - 1
    low = np.full(count * size, np.inf)  # padded with values never chosen
    low[:n] = losses
    high = np.full(count * size, -np.inf)
    high[:n] = losses
    lows = starts + low.reshape(count, size).argmin(axis=1)
    highs = starts + high.reshape(count, size).argmax(axis=1)
    return np.unique(np.concatenate([starts, ends, lows, highs]))


def decimate(steps: Sequence[int] | Steps, losses: Sequence[float] | Losses,
             max_points: int) -> tuple[list[int], list[float]]:
    """Return at most `max_points` points keeping first, last, minima and maxima (lists,
    ready for JSON or a plot)."""
    s, l = of(steps, losses)
    chosen = keep(l, max_points)
    return s[chosen].tolist(), l[chosen].tolist()


def append(steps: Steps, losses: Losses, new_steps: Sequence[int],
           new_losses: Sequence[float]) -> tuple[Steps, Losses]:
    """Return the history with new points added, decimated to STORE_POINTS if needed."""
    if not len(new_steps):
        return steps, losses
    add_steps, add_losses = of(new_steps, new_losses)
    s, l = np.concatenate([steps, add_steps]), np.concatenate([losses, add_losses])
    if s.shape[0] > STORE_POINTS:
        chosen = keep(l, STORE_POINTS // 2)
        return s[chosen], l[chosen]
    return s, l


def record(steps: Steps, losses: Losses, step: int, value: float) -> tuple[Steps, Losses]:
    """Return the history with `value` at `step`: replacing the last point if it is at that
    step, else appended."""
    if steps.shape[0] and steps[-1] == step:
        losses = losses.copy()
        losses[-1] = value
        return steps, losses
    return append(steps, losses, [step], [value])
