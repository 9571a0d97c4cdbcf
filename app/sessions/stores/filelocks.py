"""Session locks across processes: one byte of a lock file per key's stripe (the SQLite store's).

A session's lock is an open-file-description byte-range lock (`F_OFD_SETLK`, Linux) on one
byte of the lock file, the byte chosen by a hash of the id among `LOCK_STRIPES`. The
kernel holds it for this lock object, excludes every other one — in another worker
process or in this one — and releases it when its holder dies, even by SIGKILL: no lease
to wait out. Threads of one object queue on a threading lock per byte first. Two ids
sharing a byte (about one pair in a million) only wait for each other. A coroutine takes
the same two locks without blocking its loop: it tries them and polls (`hold_async`).
Where OFD locks are missing (macOS) a POSIX lock does the same across processes; two lock
objects in one process then rely on the threading locks alone, which only tests do.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import LocalLocks, LockTimeout, backoff, poll

LOCK_STRIPES = 1 << 20  # bytes of the lock file that session locks hash onto
_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)
_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid (0 for OFD)


class _FileHold:
    """`FileLocks.hold_async`: the stripe's thread lock, then its byte of the lock file
    (a class, not a generator: it is on every step's path)."""

    __slots__ = ("_key", "_locks", "_stripe", "_threads", "_timeout")

    def __init__(self, locks: FileLocks, key: str, timeout: float) -> None:
        self._locks, self._key, self._timeout = locks, key, timeout
        self._stripe = locks.stripe(key)
        self._threads = locks._threads.hold_async(str(self._stripe), timeout)

    async def __aenter__(self) -> None:
        deadline = time.monotonic() + self._timeout
        await self._threads.__aenter__()
        try:
            if not self._locks.try_byte(self._stripe):
                await poll(lambda: self._locks.try_byte(self._stripe), deadline, self._key)
        except BaseException:
            await self._threads.__aexit__()
            raise

    async def __aexit__(self, *_: object) -> None:
        try:
            self._locks.release_byte(self._stripe)
        finally:
            await self._threads.__aexit__()


class FileLocks:
    """Exclusive locks by key, across processes: one byte of a lock file per key's stripe."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._threads = LocalLocks()

    @staticmethod
    def stripe(key: str) -> int:
        """Return the byte of the lock file that `key` locks."""
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % LOCK_STRIPES

    def try_byte(self, stripe: int) -> bool:
        """Take the byte if free; return whether taken (never waits)."""
        try:
            if _OFD_SETLK is not None:
                fcntl.fcntl(self._fd, _OFD_SETLK,
                            struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, stripe, 1, 0))
            else:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, stripe)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def release_byte(self, stripe: int) -> None:
        """Give the byte back."""
        if _OFD_SETLK is not None:
            fcntl.fcntl(self._fd, _OFD_SETLK,
                        struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, stripe, 1, 0))
        else:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, stripe)

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        """Hold `key`'s lock for the block (raise LockTimeout after `timeout` seconds)."""
        stripe = self.stripe(key)
        with self._threads.hold(str(stripe), timeout), self.hold_byte(stripe, timeout, key):
            yield

    def hold_async(self, key: str, timeout: float) -> _FileHold:
        """`hold` for a coroutine: both locks are tried, then polled (`poll`) while
        another holder has them; the event loop never blocks."""
        return _FileHold(self, key, timeout)

    @contextmanager
    def hold_byte(self, byte: int, timeout: float, name: str,
                  delays: Iterator[float] | None = None) -> Iterator[None]:
        """Hold one byte of the lock file against other store objects (not other threads
        of this one: the caller queues them)."""
        deadline = time.monotonic() + timeout
        delays = delays or backoff()
        while not self.try_byte(byte):
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise LockTimeout(name)
            time.sleep(delay)
        try:
            yield
        finally:
            self.release_byte(byte)

    @property
    def closed(self) -> bool:
        """Return True once `close` ran."""
        return self._fd < 0

    def close(self) -> None:
        """Close the lock file (releasing every lock this object holds)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

