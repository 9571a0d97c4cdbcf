"""What depends only on a session's parameters, remembered across requests.

A data edit, a reload, a change of display preferences or another tab's sync leaves the
parameters as they were: their symmetry groups and the diagram's edges are then reused
instead of computed again (on a 2-8-8-8-1 net, ~1 ms of a data edit). Keyed by the
parameters' bytes, so a change of any weight is a new key; only for nets up to
MEMO_PARAMETERS parameters (hashing a big net's bytes costs about what it saves).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from app.engine.params import Parameters

MEMO_PARAMETERS = 4096  # nets with more parameters are not memoised
T = TypeVar("T")


def parameters_key(params: Parameters) -> bytes | None:
    """Return a key of the parameters' shapes and values (None for a big net)."""
    if sum(t.weights.size + t.biases.size for t in params) > MEMO_PARAMETERS:
        return None
    shapes = repr([t.weights.shape for t in params]).encode()
    return b"".join([shapes, *(a.tobytes() for t in params for a in (t.weights, t.biases))])


class Memo(Generic[T]):
    """A small thread-safe LRU of values that never change once made."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, key: Hashable | None, make: Callable[[], T]) -> T:
        """Return the value remembered under `key`, or make (and remember) it."""
        if key is None:
            return make()
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: two threads may both make it, both right
        with self._guard:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
