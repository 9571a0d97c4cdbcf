"""Loss history: bounded in the store, decimated for display, extremes always kept.

A history is two NumPy arrays of equal length — steps (int64) and losses (float64) — that
are replaced, never changed in place. Appending is amortised O(points added): a history
is a prefix view of a larger append-only buffer, and an append writes past the end of the
view into the buffer's free room — only if nothing was written there yet, so every view
ever handed out keeps its values (a shorter view, after an undo or of an older version,
makes the next append copy). A save learns from `shared` that two versions of a history
agree on their common points without comparing them.

Decimation splits the curve into equal buckets and keeps each bucket's first, last,
lowest and highest point, so the global first, last, minimum and maximum always survive
and a spike never disappears from the plot.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

STORE_POINTS = 20_000  # points kept per session; beyond, the stored history is decimated
MIN_ROOM = 256  # points a new buffer holds at least

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


def append(steps: Steps, losses: Losses, new_steps: Sequence[int] | Steps,
           new_losses: Sequence[float] | Losses) -> tuple[Steps, Losses]:
    """Return the history with new points added, decimated to STORE_POINTS if needed."""
    if not len(new_steps):
        return steps, losses
    add_steps, add_losses = of(new_steps, new_losses)
    if steps.shape[0] + add_steps.shape[0] > STORE_POINTS:
        s, l = np.concatenate([steps, add_steps]), np.concatenate([losses, add_losses])
        chosen = keep(l, STORE_POINTS // 2)
        return s[chosen], l[chosen]
    with _guard:
        return _extend(steps, add_steps), _extend(losses, add_losses)


# Buffers behind histories: id -> [a weak reference to the buffer, its address, the points
# written to it]. Points below that count are never written again.
_buffers: dict[int, list[Any]] = {}
_guard = threading.Lock()


def _address(a: NDArray[Any]) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def _buffer(view: NDArray[Any]) -> list[Any] | None:
    """Return the entry of the append-only buffer behind `view`, when `view` is one of its
    prefixes (call under `_guard`)."""
    base = view.base
    entry = _buffers.get(id(base))
    if (entry is None or entry[0]() is not base or view.dtype != base.dtype
            or view.strides != base.strides or _address(view) != entry[1]):
        return None
    return entry


def _extend(view: NDArray[Any], add: NDArray[Any]) -> NDArray[Any]:
    """Return `view` followed by `add`: written into the buffer's room when `view` ends
    where the buffer's written points do and `add` fits, else into a new buffer (call
    under `_guard`)."""
    n, k = view.shape[0], add.shape[0]
    entry = _buffer(view)
    base = None if entry is None else view.base
    if entry is not None and isinstance(base, np.ndarray) and entry[2] == n and (
            base.shape[0] >= n + k):
        base[n : n + k] = add
        entry[2] = n + k
        return base[: n + k]
    fresh = np.empty(max(2 * (n + k), MIN_ROOM), dtype=view.dtype)  # (room,)
    fresh[:n] = view
    fresh[n : n + k] = add
    key = id(fresh)
    _buffers[key] = [weakref.ref(fresh, lambda _: _buffers.pop(key, None)),
                     _address(fresh), n + k]
    return fresh[: n + k]


def shared(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Return whether `a` and `b` are prefixes of one append-only buffer: then they hold
    the same values wherever both have points."""
    with _guard:
        entry = _buffer(a)
        return entry is not None and _buffer(b) is entry


def record(steps: Steps, losses: Losses, step: int, value: float) -> tuple[Steps, Losses]:
    """Return the history with `value` at `step`: replacing the last point if it is at that
    step, else appended."""
    if steps.shape[0] and steps[-1] == step:
        losses = losses.copy()
        losses[-1] = value
        return steps, losses
    return append(steps, losses, [step], [value])
