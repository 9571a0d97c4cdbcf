"""The default store: one SQLite file (WAL mode) that survives restarts and serves many workers.

Blobs are stored as BLOBs — float64 bytes, never rounded text. Each thread has its own
connection. A session's lock is a row in `locks` with a lease, taken in a short
`BEGIN IMMEDIATE` transaction, so it excludes other worker processes too; within one
process a threading lock queues the threads first, so only one of them polls SQLite. A
lease whose holder process is gone (killed mid-step) is taken over at once; otherwise it
expires after `LEASE` seconds.

Durability: session writes commit with `synchronous=FULL` by default (an acknowledged
step is on disk, even across power loss). Lock rows live in a second file
(`sessions-locks.sqlite3`) written with `synchronous=OFF`: a lost lock row only means a
lease that was never taken, and taking a lock never waits behind another session's save.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import LocalLocks, LockTimeout, StoreFull, backoff

LEASE = 30.0  # seconds a lock is held at most if its holder stops renewing (dies)
BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    blob BLOB NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
"""
LOCK_SCHEMA = """
CREATE TABLE IF NOT EXISTS locks (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


def _alive(pid: int) -> bool:
    """Return True if a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteStore:
    """Sessions in `<data_dir>/sessions.sqlite3`."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, "
                             f"got {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._local_locks = LocalLocks()
        # Writers of this process queue here instead of in SQLite's busy handler, whose
        # sleeps (up to 100 ms each) gave 16 concurrent steps a p99 of ~350 ms.
        self._writes = threading.Lock()
        self._lock_writes = threading.Lock()
        self.locks_path = path.with_name(path.stem + "-locks" + path.suffix)
        with self._connect(self.synchronous) as conn:
            conn.executescript(SCHEMA)
        with self._connect("OFF", self.locks_path) as conn:
            conn.executescript(LOCK_SCHEMA)

    def _connect(self, synchronous: str, path: Path | None = None) -> sqlite3.Connection:
        conn = sqlite3.connect(path or self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        return conn

    @property
    def _db(self) -> sqlite3.Connection:
        """Return this thread's connection for session data."""
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = self._local.db = self._connect(self.synchronous)
        return conn

    @property
    def _locks_db(self) -> sqlite3.Connection:
        """Return this thread's connection for lock rows (no fsync)."""
        conn: sqlite3.Connection | None = getattr(self._local, "locks", None)
        if conn is None:
            conn = self._local.locks = self._connect("OFF", self.locks_path)
        return conn

    def load(self, session_id: str) -> bytes | None:
        """Return the blob unless unknown or expired."""
        row = self._db.execute(
            "SELECT blob FROM sessions WHERE id = ? AND expires_at > ?",
            (session_id, time.time()),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def create(self, session_id: str, blob: bytes, ttl: float, cap: int) -> None:
        """Insert a new session within the cap (sweeping first when full)."""
        db = self._db
        with self._writes:
            self._create(db, session_id, blob, ttl, cap)

    def _create(self, db: sqlite3.Connection, session_id: str, blob: bytes, ttl: float,
                cap: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
                (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                raise StoreFull
            db.execute("INSERT INTO sessions (id, blob, expires_at) VALUES (?, ?, ?)",
                       (session_id, blob, now + ttl))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def save(self, session_id: str, blob: bytes, ttl: float) -> None:
        """Replace the blob durably and renew the lifetime."""
        with self._writes:
            self._db.execute("UPDATE sessions SET blob = ?, expires_at = ? WHERE id = ?",
                             (blob, time.time() + ttl, session_id))

    def delete(self, session_id: str) -> bool:
        """Remove the session."""
        with self._writes:
            cur = self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        self._local_locks.forget(session_id)
        return cur.rowcount > 0

    @contextmanager
    def lock(self, session_id: str, timeout: float) -> Iterator[None]:
        """Hold the session's lock against other threads and other processes."""
        deadline = time.monotonic() + timeout
        with self._local_locks.hold(session_id, timeout):
            token = self._acquire_row(session_id, deadline)
            try:
                yield
            finally:
                with self._lock_writes:
                    self._locks_db.execute("DELETE FROM locks WHERE id = ? AND token = ?",
                                           (session_id, token))

    def _acquire_row(self, session_id: str, deadline: float) -> str:
        """Take the lock row, waiting for a live holder until the deadline."""
        token = secrets.token_hex(8)
        db = self._locks_db
        delays = backoff()
        while True:
            with self._lock_writes:
                free = self._try_row(db, session_id, token)
            if free:
                return token
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise LockTimeout(session_id)
            time.sleep(delay)

    def _try_row(self, db: sqlite3.Connection, session_id: str, token: str) -> bool:
        """Take the lock row if it is free (or its holder is gone); return whether taken."""
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT pid, expires_at FROM locks WHERE id = ?",
                             (session_id,)).fetchone()
            now = time.time()
            free = row is None or row[1] <= now or not _alive(int(row[0]))
            if free:
                db.execute("INSERT OR REPLACE INTO locks (id, token, pid, expires_at) "
                           "VALUES (?, ?, ?, ?)", (session_id, token, os.getpid(), now + LEASE))
        finally:
            db.execute("COMMIT")
        return free

    def sweep(self) -> int:
        """Delete expired sessions and stale lock rows."""
        now = time.time()
        with self._writes:
            cur = self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        with self._lock_writes:
            self._locks_db.execute("DELETE FROM locks WHERE expires_at <= ?", (now,))
        return cur.rowcount

    def count(self) -> int:
        """Return the number of stored sessions (expired ones until swept)."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        return int(n)

    def ping(self) -> bool:
        """Return True when the database answers."""
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        """Close this thread's connections."""
        for name in ("db", "locks"):
            conn = getattr(self._local, name, None)
            if conn is not None:
                conn.close()
                setattr(self._local, name, None)
