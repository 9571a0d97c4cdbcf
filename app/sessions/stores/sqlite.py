"""The default store: one SQLite file (WAL mode) that survives restarts and serves many workers.

A session is a row of `sessions` (its version, which `version` reads alone, and its
expiry) and its parts, one row each in `parts`, as BLOBs — float64 bytes, never rounded
text. A save rewrites the parts it was given and leaves the others (a step on a session
with a long history writes a few kilobytes, not the history). Files from before parts
kept a session in one blob, `sessions.blob`; it is read as one part, and emptied by the
session's next save. Each thread has its own connection for reading. A session's view
token is a row of `views`, removed with the session (`view_tokens.py`).

Writes: a thread's write (`_write`) goes to the writer thread, which takes every write
queued so far, runs them in one transaction (a change that fails fails alone: the others
run again without it), commits them with one fsync and wakes their threads. A
coroutine's write (`save_async`, a short step on the event loop) never leaves its loop:
the writes that the loop queues share one transaction — a group that grows from one turn
of the loop to the next waits a few turns for the requests still on their way
(`_gather`) — committed on the loop without an fsync (microseconds), then the WAL is
fsynced before their coroutines resume.
That fsync runs on the loop itself while fsyncs are quick (a recent average under
`INLINE_FSYNC_SECONDS`: a fraction of a millisecond on an SSD, less than handing the
batch to a thread and waking the loop again costs it); on a slow disk the sync thread
waits for it instead, once for every transaction committed since its last fsync, and the
loop serves other requests meanwhile. Either way
concurrent steps share an fsync instead of queueing for one each, SQLite's busy handler
(sleeps of up to 100 ms) never sees two writers of one process, and a write returns only
once on disk (`synchronous=FULL` by default): an acknowledged step survives power loss.

Checkpoints: SQLite moves the WAL back into the database file every 1,000 pages by
default, inside whichever commit crosses the line — a stall of tens of milliseconds for
that request, the p99 of a busy server. Here automatic checkpoints are off and a
background thread runs a passive checkpoint every `CHECKPOINT_SECONDS` instead (it never
blocks readers or writers; a process that ends checkpoints once more on `close`). Under
steady writes a passive checkpoint never catches up with the end of the WAL, and SQLite
restarts a WAL only once it has: the file grew without end (1.5 GB in a minute of
steps), and every read and write of the index got slower. So when the WAL passes
`WAL_LIMIT_FRAMES` the thread takes the writer locks for a moment — the copying is done,
a few milliseconds are left — and has the next commit start the WAL again from its first
page (`wal_checkpoint(RESTART)`). The file keeps its size, so commits overwrite pages
already there and the fsync after them (`fdatasync`) has no size or block allocation to
put in the file system's journal: ~40 % quicker, and less CPU, than on a growing file.
Only a WAL grown past `WAL_MAX_FRAMES` (a burst of big writes) is truncated, by the
thread or by SQLite itself (`journal_size_limit`) when the WAL next starts again; a WAL
that a round found idle — all of it copied, nothing written since the round before — is
truncated too, so at rest it holds no disk space.

Small disks: these sizes are for a disk of gigabytes. On a file system under 256 MB the
WAL's limit is a sixteenth of it (`WAL_DISK_SHARE`; 31 pages, 128 kB, on 2 MiB) and
SQLite's own automatic checkpoint is on at twice that, inside the commit that crosses
it: under steady writes half a second of commits between two rounds was enough to fill
such a disk with WAL (16 concurrent steps filled 2 MiB), while the stall of a checkpoint
that copies a few hundred kilobytes is small.

Failures: a write that finds no space (`SQLITE_FULL`, ENOSPC, EDQUOT) raises
`StorageFull` (507; the transaction was rolled back) and is remembered until a write
succeeds: meanwhile `ping` tries a one-row write (`PROBE`), so a readiness probe fails
while writes would, and recovers when space is freed. A database locked past the busy
timeout raises `StoreUnavailable` (503), and so does an fsync that fails after the commit
(`UNSURE`: the change may be kept, so "nothing was changed" would be false). Reads never
write: a full disk leaves every stored session readable.

Locks: a session's lock is one byte of `sessions.lock`, held by an open-file-description
lock (`filelocks.py`): the kernel releases it when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ServiceError, StorageFull, StoreUnavailable
from . import view_tokens
from .base import LockTimeout, MissingPart, StoreClosed, StoreFull, backoff
from .filelocks import LOCK_STRIPES, FileLocks

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_SECONDS = 0.5  # how often the background thread moves the WAL into the database
WAL_LIMIT_FRAMES = 4096  # pages in the WAL (16 MB) past which a checkpoint restarts it
WAL_MAX_FRAMES = 4 * WAL_LIMIT_FRAMES  # pages of WAL file past which it is truncated
WAL_DISK_SHARE = 16  # on a small file system the WAL's limit is this fraction of it
WAL_MIN_FRAMES = 16  # … but never fewer pages than this
PAGE_BYTES = 4096 + 24  # a WAL frame: a page of the default size and its header
_datasync = getattr(os, "fdatasync", os.fsync)  # flushes data and size, not timestamps
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})  # an OSError that means a full disk
UNSURE = ("The disk did not confirm the change ({}): it may or may not have been kept. "
          "Reload the session before trying again.")
WRITER_BYTE = LOCK_STRIPES  # the byte a group commit holds: one writer of all processes
INLINE_FSYNC_SECONDS = 0.001  # fsyncs this quick on average run on the event loop
GROUP_TURNS = 3  # turns of the loop a growing group commit waits for more changes, at most
GROUP_SECONDS = 0.005  # nor longer than this since its first change
FSYNC_WEIGHT = 0.25  # the latest fsync's weight in that average

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


@dataclass
class _Change:
    """One queued write: run inside the group's transaction, then its outcome. Its waiter
    is a thread (`wake`) or a coroutine (`future`, of the event loop `loop`)."""

    run: Callable[[sqlite3.Connection], Any]
    result: Any = None
    error: BaseException | None = None
    wake: threading.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None


def _settle(futures: list[asyncio.Future[None]]) -> None:
    """Wake the coroutines whose changes are committed (in their event loop)."""
    for future in futures:
        if not future.done():  # a cancelled waiter: its change is committed all the same
            future.set_result(None)


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


def failure(err: BaseException) -> ServiceError | None:
    """Return what a SQLite or file error means to a client — no space (`StorageFull`),
    no answer in time (`StoreUnavailable`) — or None for any other error."""
    if isinstance(err, sqlite3.Error):
        code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
        if code == sqlite3.SQLITE_FULL:
            return StorageFull()
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreUnavailable()
    elif isinstance(err, OSError) and err.errno in NO_SPACE:
        return StorageFull()
    return None


def _reraise(err: BaseException) -> NoReturn:
    """Raise what `err` means to a client (`failure`), or `err` itself."""
    known = failure(err)
    if known is None:
        raise err
    raise known from err


def _disk_frames(directory: Path) -> int:
    """Return the WAL frames that a `WAL_DISK_SHARE`th of the file system holds."""
    try:
        fs = os.statvfs(directory)
    except (OSError, AttributeError):  # unknown: as on a large disk
        return WAL_MAX_FRAMES
    return max(WAL_MIN_FRAMES, fs.f_blocks * fs.f_frsize // WAL_DISK_SHARE // PAGE_BYTES)


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
        self._queue: list[_Change] = []  # writes waiting for the next group commit
        self._guard = threading.Lock()
        self._queued = threading.Condition(self._guard)  # the writer waits for changes here
        self._writing = threading.Lock()  # held by this process's one running transaction
        # changes of coroutines, by event loop, waiting for their group commit (`_gather`)
        self._pending: dict[asyncio.AbstractEventLoop, list[_Change]] = {}
        self._unsynced: list[_Change] = []  # committed on a loop, waiting for the fsync
        self._syncing = threading.Condition(self._guard)  # the sync thread waits here
        self._syncer: threading.Thread | None = None
        self._wal_fd: int | None = None  # the WAL, kept open for fsyncs (until `close`)
        self._wal_lock = threading.Lock()  # held by an fsync, and by `close` closing the WAL
        self._wal_closed = False
        self.fsync_seconds = 0.0  # a moving average of the WAL's fsyncs (see `_flush`)
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._disk_frames = _disk_frames(path.parent)  # a share of the file system (`_wal_frames`)
        self._idle_frames = -1  # the WAL's frames at the last round (`_checkpoint`)
        self.no_space = False  # the last write found no space (until a write succeeds)
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
        limit, most = self._wal_frames()
        # the background thread checkpoints; on a small disk SQLite does too, past 2 limits
        small = limit < WAL_LIMIT_FRAMES
        conn.execute(f"PRAGMA wal_autocheckpoint={2 * limit if small else 0}")
        conn.execute(f"PRAGMA journal_size_limit={most * PAGE_BYTES}")  # kept at a restart
        return conn

    def _wal_frames(self) -> tuple[int, int]:
        """Return the WAL's limit and its file's maximum, in frames: `WAL_LIMIT_FRAMES` and
        `WAL_MAX_FRAMES`, or less on a small file system (its `WAL_DISK_SHARE`th)."""
        share = self._disk_frames
        return min(WAL_LIMIT_FRAMES, share), min(WAL_MAX_FRAMES, 4 * share)

    def _checkpoints(self) -> None:
        """Checkpoint the WAL every CHECKPOINT_SECONDS until the store closes."""
        conn = self._connect()
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                with suppress(sqlite3.Error, LockTimeout):  # busy: the next round catches up
                    self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """One round: a passive checkpoint; past the limit, the WAL starts again from its
        first page (truncated if the file grew past its maximum); idle since the last
        round and all copied, it is truncated (no disk space held at rest)."""
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        limit, most = self._wal_frames()
        idle, self._idle_frames = frames == self._idle_frames, frames
        if frames > limit:
            self._restart_wal(conn, "TRUNCATE" if self._wal_bytes() > most * PAGE_BYTES
                              else "RESTART")
        elif idle and frames == copied and self._wal_bytes() > 0:
            self._restart_wal(conn, "TRUNCATE")

    def _wal_bytes(self) -> int:
        """Return the WAL file's size (0 when there is none)."""
        try:
            return self._wal_path.stat().st_size
        except OSError:  # gone meanwhile: nothing to empty
            return 0

    @property
    def _wal_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def _restart_wal(self, conn: sqlite3.Connection, mode: str) -> None:
        """Finish the checkpoint so that the next commit starts the WAL again (`RESTART`,
        or `TRUNCATE` to empty the file too), with every writer of every process held off
        meanwhile (readers only finish what they read)."""
        with self._writing, self._locks.hold_byte(WRITER_BYTE, CHECKPOINT_SECONDS, "writer",
                                                  backoff(0.0001, 0.002)):
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()  # a fixed word

    def _start_threads(self) -> None:
        """Start the writer, sync and checkpoint threads on the first write (under `_guard`);
        refuse writes once the store is closed."""
        if self._stop.is_set():
            raise StoreClosed
        if self._writer is None:
            self._writer = threading.Thread(target=self._writes, daemon=True,
                                            name="sqlite-writer")
            self._writer.start()
            self._syncer = threading.Thread(target=self._syncs, daemon=True, name="sqlite-sync")
            self._syncer.start()
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

    @property
    def _loop_db(self) -> sqlite3.Connection:
        """Return this thread's connection for commits on an event loop: no fsync of its
        own (`_syncs` does it, once for many commits).

        It is the thread's reading connection too: a connection's page cache survives its
        own commits but not another connection's, and a read after a commit by another
        connection cost ~20 µs instead of ~2 (`version` is read on every request)."""
        conn = self._db
        if not getattr(self._local, "loop_writes", False):
            if self.synchronous in ("FULL", "EXTRA"):
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.loop_writes = True
        return conn

    # ------------------------------------------------------------------ group commit
    def _write(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `run(connection)` in a committed transaction (shared with concurrent writes)."""
        change = _Change(run, wake=threading.Event())
        with self._guard:
            self._start_threads()
            self._queue.append(change)
            self._queued.notify()
        change.wake.wait()  # type: ignore[union-attr]  # set just above
        return self._outcome(change)

    async def _write_async(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """`_write` for a coroutine, committed on its own event loop with no thread hop.

        The change waits for the loop's next turn, or a few more while the group keeps
        growing (`_gather`): the other requests that those turns run queue theirs
        meanwhile, and one transaction commits them all (`_flush`). The
        transaction runs on the loop's own connection without an fsync (microseconds: the
        writer locks are free, or polled); then the WAL is fsynced — on the loop, or by
        the sync thread when fsyncs are slow (`_flush`) — and only then are the waiters
        woken: as durable as `synchronous=FULL`, for a fraction of its CPU.
        """
        loop = asyncio.get_running_loop()
        change = _Change(run, loop=loop, future=loop.create_future())
        with self._guard:
            self._start_threads()
        pending = self._pending.setdefault(loop, [])  # only this loop's thread adds
        pending.append(change)
        if len(pending) == 1:
            loop.call_soon(self._gather, loop, 1, 0, time.monotonic())
        await change.future  # type: ignore[misc]  # set just above
        return self._outcome(change)

    def _outcome(self, change: _Change) -> Any:
        """Return the change's result, or raise its error as a client should hear it
        (`failure`); remember a write that found no space until one succeeds (`ping`)."""
        err = change.error
        if err is None:
            self.no_space = False
            return change.result
        if isinstance(failure(err), StorageFull):
            self.no_space = True
        _reraise(err)

    def _gather(self, loop: asyncio.AbstractEventLoop, seen: int, turns: int,
                since: float) -> None:
        """Let the loop's group grow before it commits: while the last turn of the loop
        added changes to it (`seen` were there before), wait one more turn — at most
        `GROUP_TURNS` more, and not once the first change has waited `GROUP_SECONDS`.

        Under load the requests in flight arrive over a few turns: a group that waits
        for them shares one transaction and one fsync among all of them, not among the
        few that one turn ran — 16 concurrent steps committed ~6 at a time before, all
        16 now, for 0.05–0.08 ms less CPU each (`python -m bench api`). A lone change, or a
        group that stopped growing, commits at once: no wait when the loop is idle.
        """
        count = len(self._pending.get(loop, ()))
        if (count > seen and turns < GROUP_TURNS
                and time.monotonic() - since < GROUP_SECONDS):
            loop.call_soon(self._gather, loop, count, turns + 1, since)
            return
        self._flush(loop, since + BUSY_TIMEOUT_MS / 1000)

    def _flush(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Commit the changes the loop queued (on the loop): take this process's writer
        lock and the writer byte without waiting, or try again in 0.5 ms. Whatever goes
        wrong, every waiter hears of it: none waits for ever."""
        batch: list[_Change] = []
        try:
            if self._locks.closed:
                raise StoreClosed
            if not self._writing.acquire(blocking=False):
                self._retry(loop, deadline)
                return
            try:
                if not self._locks.try_byte(WRITER_BYTE):
                    self._retry(loop, deadline)
                    return
                try:
                    batch = self._pending.pop(loop, [])
                    self._transaction(self._loop_db, batch)
                finally:
                    self._locks.release_byte(WRITER_BYTE)
            finally:
                self._writing.release()
        except Exception as err:  # committed or not, it is not known to be on disk
            batch += self._pending.pop(loop, [])
            for change in batch:
                change.error = change.error or err
            self._wake(batch)
            return
        if self.synchronous in ("FULL", "EXTRA"):
            if self.fsync_seconds > INLINE_FSYNC_SECONDS:  # a slow disk: not on the loop
                with self._guard:
                    syncing = not self._stop.is_set()  # else the sync thread may have ended
                    if syncing:
                        self._unsynced.extend(batch)
                        self._syncing.notify()
                if syncing:
                    return
            self._sync(batch)
        _settle([change.future for change in batch if change.future is not None])

    def _retry(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Try the loop's flush again soon; past the deadline, fail its changes."""
        if time.monotonic() < deadline:
            loop.call_later(0.0005, self._flush, loop, deadline)
            return
        batch = self._pending.pop(loop, [])
        for change in batch:
            change.error = LockTimeout("writer")
        self._wake(batch)

    def _syncs(self) -> None:
        """The sync thread: fsync the WAL for every batch committed since the last fsync,
        then wake their waiters; until the store closes (then drain what is left)."""
        while batch := self._take(self._unsynced, self._syncing):
            self._sync(batch)
            self._wake(batch)

    def _take(self, queue: list[_Change], wanted: threading.Condition) -> list[_Change]:
        """Wait until `queue` has changes or the store closes; take every change in it
        (none: closed, and nothing left)."""
        with self._guard:
            while not queue and not self._stop.is_set():
                wanted.wait()
            batch = queue.copy()
            queue.clear()
        return batch

    def _sync(self, batch: list[_Change]) -> None:
        """fsync the WAL for the batch (its changes get the error if that fails), and
        count the time it took into `fsync_seconds`."""
        start = time.perf_counter()
        try:
            self._fsync_wal()
        except OSError as err:  # committed, but not known to be on disk: tell the waiters
            self.no_space = self.no_space or err.errno in NO_SPACE  # the change may be kept,
            unsure = StoreUnavailable(UNSURE.format(err.strerror))  # so never "not changed"
            for change in batch:
                change.error = change.error or unsure
        took = time.perf_counter() - start
        self.fsync_seconds += FSYNC_WEIGHT * (took - self.fsync_seconds)

    def _fsync_wal(self) -> None:
        """Flush the WAL file to disk: its data and size, not its timestamps (`fdatasync`,
        as SQLite does; fsync where there is none). It acts on the file, through any
        descriptor.

        The store keeps the file open: SQLite removes the WAL only when the last
        connection to the database closes, and this store keeps its own open until
        `close`. Each system call hands the GIL back and waits to take it again from the
        busy event loop; one call instead of three per fsync."""
        with self._wal_lock:  # `close` waits for the fsync before it closes the file
            if self._wal_fd is not None:
                _datasync(self._wal_fd)
                return
            try:
                fd = os.open(self._wal_path, os.O_RDONLY)
            except FileNotFoundError:  # checkpointed and removed: in the file now
                return
            try:
                _datasync(fd)
            finally:
                if self._wal_closed:  # a late commit after `close`: keep nothing open
                    os.close(fd)
                else:
                    self._wal_fd = fd

    def _writes(self) -> None:
        """The writer thread: commit whatever is queued, in groups, until the store closes
        (then drain what is left)."""
        db = self._connect()
        try:
            while batch := self._take(self._queue, self._queued):
                self._commit(batch, db)
                self._wake(batch)
        finally:
            db.close()

    @staticmethod
    def _wake(batch: list[_Change]) -> None:
        """Wake every waiter of the batch: threads one by one, coroutines with one call
        into each event loop."""
        by_loop: defaultdict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = (
            defaultdict(list))
        for change in batch:
            if change.wake is not None:
                change.wake.set()
            elif change.loop is not None and change.future is not None:
                by_loop[change.loop].append(change.future)
        for loop, futures in by_loop.items():
            with suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures)

    def _commit(self, batch: list[_Change], db: sqlite3.Connection) -> None:
        """Run the batch in one transaction (`_transaction`) under the writer locks."""
        try:
            # Writers of other processes queue on a byte of the lock file, polled every
            # 0.1–2 ms, instead of in SQLite's busy handler (sleeps of up to 100 ms).
            with self._writing, self._locks.hold_byte(WRITER_BYTE, BUSY_TIMEOUT_MS / 1000,
                                                      "writer", backoff(0.0001, 0.002)):
                self._transaction(db, batch)
        except Exception as err:  # the writer's byte was not free in time: nothing ran
            for change in batch:
                change.error = change.error or err

    def _transaction(self, db: sqlite3.Connection, batch: list[_Change]) -> None:
        """Run the batch in one transaction. A change that fails fails alone: the
        transaction is rolled back and the others run again without it (changes are
        rarely refused, so none pays for a savepoint of its own). On any other failure
        every change gets the error."""
        todo = batch
        try:
            while todo:
                db.execute("BEGIN IMMEDIATE")
                failed = self._run_all(db, todo)
                if failed is None:
                    db.execute("COMMIT")
                    return
                if db.in_transaction:  # (SQLite may have rolled it back already)
                    db.execute("ROLLBACK")
                todo = [change for change in todo if change is not failed]
        except Exception as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for change in batch:
                change.error = change.error or err

    @staticmethod
    def _run_all(db: sqlite3.Connection, changes: list[_Change]) -> _Change | None:
        """Run the changes in the open transaction; return the first that fails (its
        error kept) and stop there, or None."""
        for change in changes:
            try:
                change.result = change.run(db)
            except Exception as err:  # this change only: the others run again without it
                change.error = err
                return change
        return None

    # ------------------------------------------------------------------ the interface
    def load(self, session_id: str) -> list[bytes] | None:
        """Return the parts unless unknown or expired."""
        try:
            rows = self._db.execute(LOAD, (session_id, time.time())).fetchall()
        except sqlite3.Error as err:
            _reraise(err)
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
            _reraise(err)
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

        self._write(run)

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        """Save the parts given (None: kept) and the version durably; renew the lifetime."""
        self._write(_update(session_id, parts, ttl, version))

    async def save_async(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
                         version: int = 0) -> None:
        """`save` for a coroutine: returns once committed, with no thread of its own."""
        await self._write_async(_update(session_id, parts, ttl, version))

    def delete(self, session_id: str) -> bool:
        """Remove the session, its parts and its view token."""
        def run(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM parts WHERE id = ?", (session_id,))
            db.execute(view_tokens.DELETE_OF, (session_id,))
            count: int = db.execute("DELETE FROM sessions WHERE id = ?",
                                    (session_id,)).rowcount
            return count

        return bool(self._write(run))

    def view_token(self, session_id: str, proposed: str) -> str | None:
        """Return the live session's view token (one read); when it has none, record
        `proposed` with a durable write, unless a racing caller recorded one first."""
        try:
            live, token = view_tokens.read(self._db, session_id)
        except sqlite3.Error as err:
            _reraise(err)
        if not live or token is not None:
            return token
        recorded: str | None = self._write(view_tokens.record(session_id, proposed))
        return recorded

    def session_of_view(self, token: str) -> str | None:
        """Return the id of the live session the view token names, or None."""
        try:
            return view_tokens.session_of(self._db, token)
        except sqlite3.Error as err:
            _reraise(err)

    def lock(self, session_id: str, timeout: float) -> AbstractContextManager[None]:
        """Hold the session's lock against other threads and other processes."""
        return self._locks.hold(session_id, timeout)

    def lock_async(self, session_id: str,
                   timeout: float) -> AbstractAsyncContextManager[None]:
        """`lock` for a coroutine (polled: the event loop never blocks)."""
        return self._locks.hold_async(session_id, timeout)

    def sweep(self) -> int:
        """Delete expired sessions and their parts."""
        count: int = self._write(lambda db: _delete_expired(db, time.time()))
        return count

    def count(self) -> int:
        """Return the number of stored sessions (expired ones until swept)."""
        try:
            (n,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        except sqlite3.Error as err:
            _reraise(err)
        return int(n)

    def ping(self) -> bool:
        """Return True when the database answers and, if the last write found no space,
        when a one-row write succeeds now (which clears it)."""
        try:
            self._db.execute("SELECT 1").fetchone()
            if self.no_space:
                self._write(lambda db: db.execute(PROBE, (time.time(),)))
        except (sqlite3.Error, OSError, ServiceError, LockTimeout, StoreClosed):
            return False
        return True

    def close(self) -> None:
        """Commit what is queued and stop the writer; stop the checkpoints (after a last
        one); close this thread's connection and the lock file."""
        with suppress(RuntimeError):  # no running loop: nothing of a loop to commit here
            loop = asyncio.get_running_loop()
            if self._pending.get(loop):  # commit what this loop queued, before the locks go
                self._flush(loop, time.monotonic() + BUSY_TIMEOUT_MS / 1000)
        with self._guard:
            self._stop.set()
            self._queued.notify_all()
            self._syncing.notify_all()
        for thread in (self._writer, self._syncer):
            if thread is not None:
                thread.join(BUSY_TIMEOUT_MS / 1000)
        with self._wal_lock:
            self._wal_closed = True
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
        if self._checkpointer is not None:
            self._checkpointer.join(10)
        conn = getattr(self._local, "db", None)
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            conn.close()
            self._local.db = None
        self._local.loop_writes = False
        self._locks.close()
