"""The default store: one SQLite file (WAL mode) that survives restarts and serves many workers.

Blobs are stored as BLOBs — float64 bytes, never rounded text — beside the session's
version, which `version` reads without the blob. Each thread has its own connection for
reading.

Writes: every write of a process goes through one group commit. A thread that wants to
write queues its change; the first thread to find no commit running becomes the leader,
runs every queued change in one transaction (each in its own savepoint, so one change that
fails takes back only itself) and commits it with one fsync; the others wait for their
change's outcome. Concurrent steps on different sessions share an fsync instead of queueing
for one each — and SQLite's busy handler (sleeps of up to 100 ms) never sees two writers
of one process. Durability: `synchronous=FULL` by default, and a write returns only after
its commit, so an acknowledged step is on disk, even across power loss.

Checkpoints: SQLite moves the WAL back into the database file every 1,000 pages by
default, inside whichever commit crosses the line — a stall of tens of milliseconds for
that request, the p99 of a busy server. Here automatic checkpoints are off and a
background thread runs a passive checkpoint every `CHECKPOINT_SECONDS` instead (it never
blocks readers or writers; a process that ends checkpoints once more on `close`).

Locks: a session's lock is an open-file-description byte-range lock (`F_OFD_SETLK`, Linux)
on one byte of `sessions.lock`, the byte chosen by a hash of the id among `LOCK_STRIPES`.
The kernel holds it for this store object, excludes every other store object — in another
worker process or in this one — and releases it when its holder dies, even by SIGKILL: no
lease to wait out. Threads of one store queue on a threading lock per byte first. Two ids
sharing a byte (about one pair in a million) only wait for each other. Where OFD locks
are missing (macOS) a POSIX lock does the same across processes; two store objects in
one process then rely on the threading locks alone, which only tests do.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import LocalLocks, LockTimeout, StoreFull, backoff

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_SECONDS = 0.5  # how often the background thread moves the WAL into the database
LOCK_STRIPES = 1 << 20  # bytes of the lock file that session locks hash onto
WRITER_BYTE = LOCK_STRIPES  # the byte a group commit holds: one writer of all processes
_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)
_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid (0 for OFD)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    blob BLOB NOT NULL,
    expires_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
"""


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

    def _try(self, stripe: int) -> bool:
        """Take the byte if free; return whether taken."""
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

    def _release(self, stripe: int) -> None:
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

    @contextmanager
    def hold_byte(self, byte: int, timeout: float, name: str,
                  delays: Iterator[float] | None = None) -> Iterator[None]:
        """Hold one byte of the lock file against other store objects (not other threads
        of this one: the caller queues them)."""
        deadline = time.monotonic() + timeout
        delays = delays or backoff()
        while not self._try(byte):
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise LockTimeout(name)
            time.sleep(delay)
        try:
            yield
        finally:
            self._release(byte)

    def close(self) -> None:
        """Close the lock file (releasing every lock this object holds)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class _Change:
    """One queued write: run inside the group's transaction, then its outcome."""

    run: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    wake: threading.Event = field(default_factory=threading.Event)


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
        self._queue: list[_Change] = []  # writes waiting for the next group commit
        self._guard = threading.Lock()
        self._committing = False  # a leader is committing (the queue waits for the next)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
            if "version" not in columns:  # a file from before versions were kept
                conn.execute("ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL "
                             "DEFAULT 0")
        self._locks = FileLocks(path.with_name(path.stem + ".lock"))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the background thread does it
        return conn

    def _checkpoints(self) -> None:
        """Checkpoint the WAL every CHECKPOINT_SECONDS until the store closes."""
        conn = self._connect()
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                with suppress(sqlite3.Error):  # busy or locked: the next round catches up
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()

    def _start_checkpoints(self) -> None:
        """Start the checkpoint thread on the first write (under `_guard`)."""
        if self._checkpointer is None and not self._stop.is_set():
            self._checkpointer = threading.Thread(target=self._checkpoints, daemon=True,
                                                  name="sqlite-checkpoints")
            self._checkpointer.start()

    @property
    def _db(self) -> sqlite3.Connection:
        """Return this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = self._local.db = self._connect()
        return conn

    # ------------------------------------------------------------------ group commit
    def _write(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `run(connection)` in a committed transaction (shared with concurrent writes)."""
        change = _Change(run)
        with self._guard:
            self._start_checkpoints()
            self._queue.append(change)
            leading = not self._committing
            self._committing = True
        if not leading:
            change.wake.wait()  # set once: its outcome is in, or it is its turn to lead
        if not change.done:  # lead: commit everything queued so far, then hand over
            with self._guard:
                batch, self._queue = self._queue, []
            try:
                self._commit(batch)
            finally:
                with self._guard:
                    successor = self._queue[0] if self._queue else None
                    self._committing = successor is not None
                for other in batch:
                    other.wake.set()
                if successor is not None:
                    successor.wake.set()
        if change.error is not None:
            raise change.error
        return change.result

    def _commit(self, batch: list[_Change]) -> None:
        """Run each change in its own savepoint, then commit them all at once."""
        db = self._db
        try:
            # Leaders of other processes queue on a byte of the lock file, polled every
            # 0.1–2 ms, instead of in SQLite's busy handler (sleeps of up to 100 ms).
            with self._locks.hold_byte(WRITER_BYTE, BUSY_TIMEOUT_MS / 1000, "writer",
                                       backoff(0.0001, 0.002)):
                self._transaction(db, batch)
        except Exception as err:  # the writer's byte was not free in time: nothing ran
            for change in batch:
                change.error = change.error or err
        finally:
            for change in batch:
                change.done = True

    def _transaction(self, db: sqlite3.Connection, batch: list[_Change]) -> None:
        """Run the batch in one transaction; on failure every change gets the error."""
        try:
            db.execute("BEGIN IMMEDIATE")
            for change in batch:
                db.execute("SAVEPOINT change")
                try:
                    change.result = change.run(db)
                except Exception as err:  # this change only: the others still commit
                    db.execute("ROLLBACK TO change")
                    change.error = err
                db.execute("RELEASE change")
            db.execute("COMMIT")
        except Exception as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for change in batch:
                change.error = change.error or err

    # ------------------------------------------------------------------ the interface
    def _column(self, session_id: str, column: str) -> Any:
        row = self._db.execute(
            f"SELECT {column} FROM sessions WHERE id = ? AND expires_at > ?",  # a fixed name
            (session_id, time.time()),
        ).fetchone()
        return None if row is None else row[0]

    def load(self, session_id: str) -> bytes | None:
        """Return the blob unless unknown or expired."""
        blob = self._column(session_id, "blob")
        return None if blob is None else bytes(blob)

    def version(self, session_id: str) -> int | None:
        """Return the version saved with the blob, unless unknown or expired."""
        version = self._column(session_id, "version")
        return None if version is None else int(version)

    def create(self, session_id: str, blob: bytes, ttl: float, cap: int,
               version: int = 0) -> None:
        """Insert a new session within the cap (sweeping first when full)."""

        def run(db: sqlite3.Connection) -> None:
            now = time.time()
            (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
                (count,) = db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= cap:
                raise StoreFull
            db.execute("INSERT INTO sessions (id, blob, expires_at, version) "
                       "VALUES (?, ?, ?, ?)", (session_id, blob, now + ttl, version))

        self._write(run)

    def save(self, session_id: str, blob: bytes, ttl: float, version: int = 0) -> None:
        """Replace the blob and its version durably, and renew the lifetime."""
        self._write(lambda db: db.execute(
            "UPDATE sessions SET blob = ?, expires_at = ?, version = ? WHERE id = ?",
            (blob, time.time() + ttl, version, session_id)))

    def delete(self, session_id: str) -> bool:
        """Remove the session."""
        count: int = self._write(lambda db: db.execute(
            "DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount)
        return count > 0

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's lock against other threads and other processes."""
        return self._locks.hold(session_id, timeout)

    def sweep(self) -> int:
        """Delete expired sessions."""
        count: int = self._write(lambda db: db.execute(
            "DELETE FROM sessions WHERE expires_at <= ?", (time.time(),)).rowcount)
        return count

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
        """Stop the checkpoints (after a last one); close this thread's connection and the
        lock file."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(10)
        conn = getattr(self._local, "db", None)
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            conn.close()
            self._local.db = None
        self._locks.close()
