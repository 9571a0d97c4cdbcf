"""The store interface: sessions by id, per-session locks, expiry and a session cap.

A store knows nothing of networks: it keeps each session as a list of opaque parts (byte
strings, see `storage.codec.dumps`) with the version number its writer gives it, which
`version` returns without the parts (a process that keeps decoded sessions checks its copy is
current with it). A save may leave parts as they are (None in its place): a training
step rewrites the few parts it changed, not the whole session. Every change to a session
happens inside `lock(id)`, which must exclude every other holder of the same id in this
process *and* in any other process sharing the store; a lock whose holder died is
released when its lease runs out. `save` is durable when it returns.

A store in trouble raises `StorageFull` (a write found no space; nothing was changed) or
`StoreUnavailable` (it does not answer), from `app/sessions/errors.py`, instead of its
driver's errors: the service passes them on as refusals (507, 503). Reads never write, so
a full store still serves every session it holds.

A store whose reads and locks cost microseconds (`inline = True`: memory, SQLite) also
offers `lock_async` and `save_async`, so a short change can run on the event loop with no
thread hop: its lock is polled, and its save waits for the commit without a thread.

View tokens: besides its id (which lets its holder change the session) a session may
have a view token, a second random string from which the id cannot be derived, for
reading it only. `view_token(id, proposed)` returns the session's token, recording the
caller's random `proposed` first when it has none yet (atomically: callers racing with
different proposals all get the one recorded); `session_of_view(token)` returns the id
of the live session the token names. A token never changes while its session lives and
names one session only (a proposal recorded for another session raises `ViewTokenTaken`;
random 128-bit tokens never meet it). It lives and dies with its session: `delete`
removes it, expiry hides it, `sweep` removes it. Reading a token is one cheap read and
never writes; recording one is a write (`StorageFull`, `StoreUnavailable` as above).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
)
from typing import Any, Protocol


class StoreFull(Exception):
    """The store holds its maximum number of sessions, even after sweeping."""


class StoreClosed(RuntimeError):
    """The store was closed: it takes no more writes."""

    def __init__(self) -> None:
        super().__init__("the store is closed")


class MissingPart(LookupError):
    """A save kept a part that the store does not hold (the caller's copy is stale)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"part {index} is not stored")


class LockTimeout(Exception):
    """A session's lock could not be taken in time."""


class ViewTokenTaken(ValueError):
    """A proposed view token is already recorded for another session."""

    def __init__(self) -> None:
        super().__init__("the proposed view token already names another session")


class Store(Protocol):
    """Where sessions live. Implementations: memory, sqlite (and redis)."""

    inline: bool  # reads and locks cheap enough for the event loop (then an InlineStore)

    def load(self, session_id: str) -> list[bytes] | None:
        """Return the session's parts, or None if unknown or expired."""

    def create(self, session_id: str, parts: Sequence[bytes], ttl: float, cap: int,
               version: int = 0) -> None:
        """Store a new session; raise StoreFull when `cap` sessions already live."""

    def version(self, session_id: str) -> int | None:
        """Return the version saved with the parts (cheap: not the parts), or None."""

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        """Replace the parts and the version (the caller holds the lock); renew the lifetime.

        Part i becomes `parts[i]`, or stays as stored where that is None (the caller read
        the stored version under the lock, so it knows what is stored); parts past the
        end are dropped. A None where nothing is stored raises MissingPart."""

    def delete(self, session_id: str) -> bool:
        """Remove the session; return whether it existed."""

    def view_token(self, session_id: str, proposed: str) -> str | None:
        """Return the session's view token, first recording `proposed` as it when the session
        has none yet; None when the session is unknown or expired. Atomic: callers racing
        with different proposals all get the one token recorded."""

    def session_of_view(self, token: str) -> str | None:
        """Return the id of the live session whose view token `token` is, or None."""

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's lock for the duration of the block (raise LockTimeout)."""

    def sweep(self) -> int:
        """Remove expired sessions; return how many."""

    def count(self) -> int:
        """Return the number of live sessions."""

    def ping(self) -> bool:
        """Return True when the store answers (and, where it can tell, takes writes)."""

    def close(self) -> None:
        """Release connections."""


class InlineStore(Store, Protocol):
    """A store whose changes may run on the event loop."""

    def lock_async(self, session_id: str,
                   timeout: float) -> AbstractAsyncContextManager[None]:
        """Hold the session's lock for the block, waiting without blocking the loop."""

    async def save_async(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
                         version: int = 0) -> None:
        """`save`, awaited: durable when it returns."""


def merged(held: Sequence[bytes], parts: Sequence[bytes | None]) -> list[bytes]:
    """Return the parts a save leaves: `parts`, with each None replaced by the part held
    at that place (raise MissingPart when none is)."""
    out = []
    for i, part in enumerate(parts):
        if part is None:
            if i >= len(held):
                raise MissingPart(i)
            part = held[i]
        out.append(part)
    return out


async def poll(attempt: Callable[[], bool], deadline: float, name: str) -> None:
    """Call `attempt` until it succeeds, sleeping between tries (0.2 ms, doubling to
    10 ms) so that the event loop runs meanwhile; raise LockTimeout(name) once the next
    try would come after `deadline` (a `time.monotonic()` time)."""
    delays = backoff(0.0002, 0.01)
    while not attempt():
        delay = next(delays)
        if time.monotonic() + delay > deadline:
            raise LockTimeout(name)
        await asyncio.sleep(delay)


def backoff(first: float = 0.001, cap: float = 0.02) -> Iterator[float]:
    """Yield sleep intervals for lock polling: doubling from `first` up to `cap`."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


class LocalLocks:
    """One threading lock per key: threads of one process queue here first, so only one of
    them at a time competes for the store's cross-process lock. A key's lock exists while
    some thread holds or waits for it (the table does not grow with every id ever seen)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # key -> [lock, holders and waiters]

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        """Hold the key's lock in this process (raise LockTimeout)."""
        lock = self._enter(key)
        try:
            if not lock.acquire(timeout=timeout):
                raise LockTimeout(key)
            try:
                yield
            finally:
                lock.release()
        finally:
            self._leave(key)

    def hold_async(self, key: str, timeout: float) -> AsyncHold:
        """Hold the key's lock in this process from a coroutine: try it, and while another
        holder has it, poll (`poll`) without blocking the event loop."""
        return AsyncHold(self, key, timeout)

    def _enter(self, key: str) -> threading.Lock:
        """Count one more holder or waiter of the key; return its lock."""
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
            lock: threading.Lock = entry[0]
            return lock

    def _leave(self, key: str) -> None:
        """Count one holder or waiter less; forget the key's lock when none is left."""
        with self._guard:
            entry = self._locks[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    def __len__(self) -> int:
        """Return how many keys are held or waited for."""
        with self._guard:
            return len(self._locks)


class AsyncHold:
    """`LocalLocks.hold_async`: an async context manager written as a class, not a
    generator (a step takes two such locks; each generator cost ~3 µs)."""

    __slots__ = ("_key", "_lock", "_locks", "_timeout")

    def __init__(self, locks: LocalLocks, key: str, timeout: float) -> None:
        self._locks, self._key, self._timeout = locks, key, timeout
        self._lock: threading.Lock | None = None

    async def __aenter__(self) -> None:
        lock = self._locks._enter(self._key)
        try:
            if not lock.acquire(blocking=False):
                await poll(lambda: lock.acquire(blocking=False),
                           time.monotonic() + self._timeout, self._key)
        except BaseException:
            self._locks._leave(self._key)
            raise
        self._lock = lock

    async def __aexit__(self, *_: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            self._locks._leave(self._key)
