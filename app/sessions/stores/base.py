"""The store interface: blobs by session id, per-session locks, expiry and a session cap.

A store knows nothing of networks: it keeps opaque blobs (see `model.dumps`). Every change
to a session happens inside `lock(id)`, which must exclude every other holder of the same
id in this process *and* in any other process sharing the store; a lock whose holder died
is released when its lease runs out. `save` is durable when it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol


class StoreFull(Exception):
    """The store holds its maximum number of sessions, even after sweeping."""


class LockTimeout(Exception):
    """A session's lock could not be taken in time."""


class Store(Protocol):
    """Where sessions live. Implementations: memory, sqlite (and redis)."""

    def load(self, session_id: str) -> bytes | None:
        """Return the session's blob, or None if unknown or expired."""

    def create(self, session_id: str, blob: bytes, ttl: float, cap: int) -> None:
        """Store a new session; raise StoreFull when `cap` sessions already live."""

    def save(self, session_id: str, blob: bytes, ttl: float) -> None:
        """Replace the session's blob (the caller holds its lock) and renew its lifetime."""

    def delete(self, session_id: str) -> bool:
        """Remove the session; return whether it existed."""

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's lock for the duration of the block (raise LockTimeout)."""

    def sweep(self) -> int:
        """Remove expired sessions; return how many."""

    def count(self) -> int:
        """Return the number of live sessions."""

    def ping(self) -> bool:
        """Return True when the store answers."""

    def close(self) -> None:
        """Release connections."""


def backoff(first: float = 0.001, cap: float = 0.02) -> Iterator[float]:
    """Yield sleep intervals for lock polling: doubling from `first` up to `cap`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)
