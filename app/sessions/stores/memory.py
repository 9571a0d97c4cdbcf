"""An in-process store for tests and throwaway servers: a dict and a lock per session.

View tokens are two dicts, id -> token and token -> id, changed with the sessions under
the same guard; an expired session's token is hidden until a sweep drops it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager

from .base import LocalLocks, StoreFull, ViewTokenTaken, merged


class MemoryStore:
    """Sessions in a dict; nothing survives the process."""

    inline = True  # every call takes microseconds: changes may run on the event loop

    def __init__(self) -> None:
        # id -> (parts, expires, version)
        self._blobs: dict[str, tuple[tuple[bytes, ...], float, int]] = {}
        self._views: dict[str, str] = {}  # session id -> its view token
        self._viewed: dict[str, str] = {}  # view token -> session id
        self._guard = threading.Lock()
        self._local_locks = LocalLocks()

    def _live(self, session_id: str) -> tuple[tuple[bytes, ...], float, int] | None:
        with self._guard:
            entry = self._blobs.get(session_id)
        return None if entry is None or entry[1] <= time.time() else entry

    def load(self, session_id: str) -> list[bytes] | None:
        """Return the parts unless unknown or expired."""
        entry = self._live(session_id)
        return None if entry is None else list(entry[0])

    def version(self, session_id: str) -> int | None:
        """Return the session's version unless unknown or expired."""
        entry = self._live(session_id)
        return None if entry is None else entry[2]

    def create(self, session_id: str, parts: Sequence[bytes], ttl: float, cap: int,
               version: int = 0) -> None:
        """Store a new session within the cap."""
        with self._guard:
            if len(self._blobs) >= cap:
                self._sweep_locked()
            if len(self._blobs) >= cap:
                raise StoreFull
            if self._expired_locked(session_id):  # a new session under a dead one's id
                self._forget_view_locked(session_id)
            self._blobs[session_id] = (tuple(parts), time.time() + ttl, version)

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        """Replace the parts (None: keep that part) and the version; renew the lifetime."""
        with self._guard:
            held = self._blobs.get(session_id)
            kept = merged(() if held is None else held[0], parts)
            self._blobs[session_id] = (tuple(kept), time.time() + ttl, version)

    def delete(self, session_id: str) -> bool:
        """Remove the session."""
        with self._guard:
            existed = self._blobs.pop(session_id, None) is not None
            self._forget_view_locked(session_id)
            return existed

    def view_token(self, session_id: str, proposed: str) -> str | None:
        """Return the live session's view token, recording `proposed` when it has none."""
        with self._guard:
            entry = self._blobs.get(session_id)
            if entry is None or entry[1] <= time.time():
                return None
            token = self._views.get(session_id)
            if token is None:
                if proposed in self._viewed:
                    raise ViewTokenTaken
                token = self._views[session_id] = proposed
                self._viewed[proposed] = session_id
            return token

    def session_of_view(self, token: str) -> str | None:
        """Return the id of the live session the view token names, or None."""
        with self._guard:
            session_id = self._viewed.get(token)
            entry = None if session_id is None else self._blobs.get(session_id)
            return session_id if entry is not None and entry[1] > time.time() else None

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's threading lock (one process is all a memory store serves)."""
        return self._local_locks.hold(session_id, timeout)

    def lock_async(self, session_id: str,
                   timeout: float) -> AbstractAsyncContextManager[None]:
        """`lock` for a coroutine (polled: the event loop never blocks)."""
        return self._local_locks.hold_async(session_id, timeout)

    async def save_async(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
                         version: int = 0) -> None:
        """`save` (nothing to wait for)."""
        self.save(session_id, parts, ttl, version)

    def _expired_locked(self, session_id: str) -> bool:
        """Return whether the session is stored but expired (the caller holds the guard)."""
        entry = self._blobs.get(session_id)
        return entry is not None and entry[1] <= time.time()

    def _forget_view_locked(self, session_id: str) -> None:
        """Drop the session's view token, if any (the caller holds the guard)."""
        token = self._views.pop(session_id, None)
        if token is not None:
            del self._viewed[token]

    def _sweep_locked(self) -> int:
        now = time.time()
        dead = [k for k, (_, exp, _) in self._blobs.items() if exp <= now]
        for k in dead:
            del self._blobs[k]
            self._forget_view_locked(k)
        return len(dead)

    def sweep(self) -> int:
        """Drop expired sessions."""
        with self._guard:
            return self._sweep_locked()

    def count(self) -> int:
        """Return the number of stored sessions (expired ones until swept)."""
        with self._guard:
            return len(self._blobs)

    def ping(self) -> bool:
        """Always answers."""
        return True

    def close(self) -> None:
        """Nothing to release."""
