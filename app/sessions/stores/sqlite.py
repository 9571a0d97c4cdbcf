"""The default store: one SQLite file (WAL mode) that survives restarts and serves many workers.

A session is a row of `sessions` (its version, which `version` reads alone, and its
expiry) and its parts, one row each in `parts`, as BLOBs — float64 bytes, never rounded
text. A save rewrites the parts it was given and leaves the others (a step on a session
with a long history writes a few kilobytes, not the history). Files from before parts
kept a session in one blob, `sessions.blob`; it is read as one part, and emptied by the
session's next save. Each thread has its own connection for reading. A session's view
token is a row of `views`, removed with the session (`view_tokens.py`).

This module holds the `Store` interface, the schema and the connections. Writes — the
writer thread, the event loop's group commit and the fsyncs that make a write durable
before it returns — are `sqlite_writes.py`; the WAL's checkpoints, which keep it small,
are `sqlite_wal.py`; what SQLite's and the disk's errors mean to a client (507, 503) is
`sqlite_failures.py`.

Locks: a session's lock is one byte of `sessions.lock`, held by an open-file-description
lock (`filelocks.py`): the kernel releases it when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, suppress
from pathlib import Path
from typing import Any

from ..errors import ServiceError
from . import view_tokens
from .base import LockTimeout, MissingPart, StoreClosed, StoreFull
from .filelocks import FileLocks
from .sqlite_failures import failure, reraise
from .sqlite_wal import Wal
from .sqlite_writes import WritePath

BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    blob BLOB NOT NULL,
    expires_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS parts (
    id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (id, idx)
);
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL NOT NULL);
""" + view_tokens.TABLE
# One statement, so one snapshot: a session's parts, or its one blob from before parts
# (idx -1: empty once the session has parts), only while the session lives.
LOAD = """
SELECT -1, blob FROM sessions WHERE id = ?1 AND expires_at > ?2
UNION ALL
SELECT p.idx, p.blob FROM parts AS p JOIN sessions AS s ON s.id = p.id
 WHERE p.id = ?1 AND s.expires_at > ?2
ORDER BY 1
"""
EXPIRED_PARTS = "DELETE FROM parts WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ?)"
EXPIRED = "DELETE FROM sessions WHERE expires_at <= ?"
# `ping`'s write after a write found no space: one row, rewritten (a page of WAL)
PROBE = "INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at"

__all__ = ["BUSY_TIMEOUT_MS", "SqliteStore", "failure"]


def _update(session_id: str, parts: Sequence[bytes | None], ttl: float,
            version: int) -> Callable[[sqlite3.Connection], Any]:
    """Return the write that saves a session: its version and lifetime, the parts given
    (None: kept), none past the last (an unknown session: nothing)."""
    writes = [(session_id, i, part) for i, part in enumerate(parts) if part is not None]
    last_kept = max((i for i, part in enumerate(parts) if part is None), default=-1)

    def run(db: sqlite3.Connection) -> None:
        if not db.execute("UPDATE sessions SET blob = X'', expires_at = ?, version = ? "
                          "WHERE id = ?", (time.time() + ttl, version, session_id)).rowcount:
            return
        (held,) = db.execute("SELECT COUNT(*) FROM parts WHERE id = ?",
                             (session_id,)).fetchone()  # numbered 0, 1, … with no gap
        if last_kept >= held:
            raise MissingPart(held)
        db.executemany("INSERT INTO parts (id, idx, blob) VALUES (?, ?, ?) ON CONFLICT "
                       "(id, idx) DO UPDATE SET blob = excluded.blob", writes)
        if held > len(parts):
            db.execute("DELETE FROM parts WHERE id = ? AND idx >= ?", (session_id, len(parts)))
    return run


def _insert_parts(db: sqlite3.Connection, session_id: str, parts: Sequence[bytes]) -> None:
    db.executemany("INSERT INTO parts (id, idx, blob) VALUES (?, ?, ?)",
                   [(session_id, i, part) for i, part in enumerate(parts)])


def _delete_expired(db: sqlite3.Connection, now: float) -> int:
    """Delete the sessions expired at `now`, their parts and view tokens; return how many."""
    db.execute(EXPIRED_PARTS, (now,))
    db.execute(view_tokens.DELETE_EXPIRED, (now,))
    count: int = db.execute(EXPIRED, (now,)).rowcount
    return count


class SqliteStore:
    """Sessions in `<data_dir>/sessions.sqlite3`."""

    inline = True  # reads and locks take microseconds: changes may run on the event loop

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, "
                             f"got {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._wal = Wal(path)  # its fsyncs and checkpoints; its limits (`_connect`)
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
            if "version" not in columns:  # a file from before versions were kept
                conn.execute("ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL "
                             "DEFAULT 0")
        self._locks = FileLocks(path.with_name(path.stem + ".lock"))
        # `_connect` is looked up when the threads connect, not bound here (tests replace it)
        self._writes = WritePath(lambda: self._connect(), self._loop_db, self._locks,
                                 self._wal, self.synchronous in ("FULL", "EXTRA"),
                                 BUSY_TIMEOUT_MS / 1000)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._wal.configure(conn)
        return conn

    @property
    def _db(self) -> sqlite3.Connection:
        """Return this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = self._local.db = self._connect()
        return conn

    def _loop_db(self) -> sqlite3.Connection:
        """Return this thread's connection for commits on an event loop: no fsync of its
        own (the write path does it, once for many commits).

        It is the thread's reading connection too: a connection's page cache survives its
        own commits but not another connection's, and a read after a commit by another
        connection cost ~20 µs instead of ~2 (`version` is read on every request)."""
        conn = self._db
        if not getattr(self._local, "loop_writes", False):
            if self.synchronous in ("FULL", "EXTRA"):
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.loop_writes = True
        return conn

    @property
    def no_space(self) -> bool:
        """Return True when the last write found no space (until a write succeeds)."""
        return self._writes.no_space

    # ------------------------------------------------------------------ the interface
    def load(self, session_id: str) -> list[bytes] | None:
        """Return the parts unless unknown or expired."""
        try:
            rows = self._db.execute(LOAD, (session_id, time.time())).fetchall()
        except sqlite3.Error as err:
            reraise(err)
        if not rows:
            return None
        parts = [bytes(blob) for idx, blob in rows if idx >= 0]
        return parts or [bytes(rows[0][1])]  # a session saved before parts: one blob

    def version(self, session_id: str) -> int | None:
        """Return the version saved with the parts, unless unknown or expired."""
        try:
            row = self._db.execute("SELECT version FROM sessions WHERE id = ? AND "
                                   "expires_at > ?", (session_id, time.time())).fetchone()
        except sqlite3.Error as err:
            reraise(err)
        return None if row is None else int(row[0])

    def create(self, session_id: str, parts: Sequence[bytes], ttl: float, cap: int,
               version: int = 0) -> None:
        """Insert a new session within the cap (sweeping first when full)."""

        def run(db: sqlite3.Connection) -> None:
            now = time.time()
            (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                _delete_expired(db, now)
                (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                raise StoreFull
            db.execute("INSERT INTO sessions (id, blob, expires_at, version) "
                       "VALUES (?, X'', ?, ?)", (session_id, now + ttl, version))
            _insert_parts(db, session_id, parts)

        self._writes.write(run)

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        """Save the parts given (None: kept) and the version durably; renew the lifetime."""
        self._writes.write(_update(session_id, parts, ttl, version))

    async def save_async(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
                         version: int = 0) -> None:
        """`save` for a coroutine: returns once committed, with no thread of its own."""
        await self._writes.write_async(_update(session_id, parts, ttl, version))

    def delete(self, session_id: str) -> bool:
        """Remove the session, its parts and its view token."""
        def run(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM parts WHERE id = ?", (session_id,))
            db.execute(view_tokens.DELETE_OF, (session_id,))
            count: int = db.execute("DELETE FROM sessions WHERE id = ?",
                                    (session_id,)).rowcount
            return count

        return bool(self._writes.write(run))

    def view_token(self, session_id: str, proposed: str) -> str | None:
        """Return the live session's view token (one read); when it has none, record
        `proposed` with a durable write, unless a racing caller recorded one first."""
        try:
            live, token = view_tokens.read(self._db, session_id)
        except sqlite3.Error as err:
            reraise(err)
        if not live or token is not None:
            return token
        recorded: str | None = self._writes.write(view_tokens.record(session_id, proposed))
        return recorded

    def session_of_view(self, token: str) -> str | None:
        """Return the id of the live session the view token names, or None."""
        try:
            return view_tokens.session_of(self._db, token)
        except sqlite3.Error as err:
            reraise(err)

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's lock against other threads and other processes."""
        return self._locks.hold(session_id, timeout)

    def lock_async(self, session_id: str,
                   timeout: float) -> AbstractAsyncContextManager[None]:
        """`lock` for a coroutine (polled: the event loop never blocks)."""
        return self._locks.hold_async(session_id, timeout)

    def sweep(self) -> int:
        """Delete expired sessions and their parts."""
        count: int = self._writes.write(lambda db: _delete_expired(db, time.time()))
        return count

    def count(self) -> int:
        """Return the number of stored sessions (expired ones until swept)."""
        try:
            (n,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        except sqlite3.Error as err:
            reraise(err)
        return int(n)

    def ping(self) -> bool:
        """Return True when the database answers and, if the last write found no space,
        when a one-row write succeeds now (which clears it)."""
        try:
            self._db.execute("SELECT 1").fetchone()
            if self._writes.no_space:
                self._writes.write(lambda db: db.execute(PROBE, (time.time(),)))
        except (sqlite3.Error, OSError, ServiceError, LockTimeout, StoreClosed):
            return False
        return True

    def close(self) -> None:
        """Commit what is queued and stop the writer; stop the checkpoints (after a last
        one); close this thread's connection and the lock file."""
        self._writes.close()
        self._wal.close()
        conn = getattr(self._local, "db", None)
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            conn.close()
            self._local.db = None
        self._local.loop_writes = False
        self._locks.close()
