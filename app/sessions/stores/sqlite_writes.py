"""The SQLite store's write path: the writer thread, the loop's group commit, the fsyncs.

A thread's write (`write`) goes to the writer thread, which takes every write queued so
far, runs them in one transaction (a change that fails fails alone: the others run again
without it), commits them with one fsync and wakes their threads. A coroutine's write
(`write_async`, a short step on the event loop) never leaves its loop: the writes that
the loop queues share one transaction — a group that grows from one turn of the loop to
the next waits a few turns for the requests still on their way (`_gather`) — committed
on the loop without an fsync (microseconds), then the WAL is fsynced before their
coroutines resume.
That fsync runs on the loop itself while fsyncs are quick (a recent average under
`INLINE_FSYNC_SECONDS`: a fraction of a millisecond on an SSD, less than handing the
batch to a thread and waking the loop again costs it); on a slow disk the sync thread
waits for it instead, once for every transaction committed since its last fsync, and the
loop serves other requests meanwhile. Either way
concurrent steps share an fsync instead of queueing for one each, SQLite's busy handler
(sleeps of up to 100 ms) never sees two writers of one process, and a write returns only
once on disk (`synchronous=FULL` by default): an acknowledged step survives power loss.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from ..errors import StorageFull, StoreUnavailable
from .base import LockTimeout, StoreClosed, backoff
from .filelocks import LOCK_STRIPES, FileLocks
from .sqlite_failures import NO_SPACE, UNSURE, failure, reraise
from .sqlite_wal import Connect, Wal

WRITER_BYTE = LOCK_STRIPES  # the byte a group commit holds: one writer of all processes
INLINE_FSYNC_SECONDS = 0.001  # fsyncs this quick on average run on the event loop
GROUP_TURNS = 3  # turns of the loop a growing group commit waits for more changes, at most
GROUP_SECONDS = 0.005  # nor longer than this since its first change
FSYNC_WEIGHT = 0.25  # the latest fsync's weight in that average


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


def _take(queue: list[_Change], wanted: threading.Condition,
          stop: threading.Event) -> list[_Change]:
    """Wait until `queue` has changes or `stop` is set; take every change in it (none:
    stopped, and nothing left). `wanted`'s lock (the write path's guard) holds the queue."""
    with wanted:
        while not queue and not stop.is_set():
            wanted.wait()
        batch = queue.copy()
        queue.clear()
    return batch


class WritePath:
    """The changes waiting for their commit, the threads that commit and fsync them, and
    the outcome their waiters hear. `connect` opens the writer thread's connection;
    `loop_db` returns the calling thread's connection for commits on its event loop."""

    def __init__(self, connect: Connect, loop_db: Callable[[], sqlite3.Connection],
                 locks: FileLocks, wal: Wal, fsyncs: bool, busy_seconds: float) -> None:
        self._connect, self._loop_db, self._locks, self._wal = connect, loop_db, locks, wal
        self._fsyncs = fsyncs  # synchronous FULL or EXTRA: loop commits are fsynced here
        self._busy_seconds = busy_seconds  # how long a write waits for the writer locks
        self._queue: list[_Change] = []  # writes waiting for the next group commit
        self._guard = threading.Lock()
        self._queued = threading.Condition(self._guard)  # the writer waits for changes here
        self._writing = threading.Lock()  # held by this process's one running transaction
        # changes of coroutines, by event loop, waiting for their group commit (`_gather`)
        self._pending: dict[asyncio.AbstractEventLoop, list[_Change]] = {}
        self._unsynced: list[_Change] = []  # committed on a loop, waiting for the fsync
        self._syncing = threading.Condition(self._guard)  # the sync thread waits here
        self._syncer: threading.Thread | None = None
        self.fsync_seconds = 0.0  # a moving average of the WAL's fsyncs (see `_flush`)
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.no_space = False  # the last write found no space (until a write succeeds)

    @contextmanager
    def hold_writers(self, timeout: float) -> Iterator[None]:
        """Hold off every other writer: this process's transaction lock, then the lock
        file's writer byte, one process's at a time (polled every 0.1–2 ms; LockTimeout
        after `timeout` seconds)."""
        with self._writing, self._locks.hold_byte(WRITER_BYTE, timeout, "writer",
                                                  backoff(0.0001, 0.002)):
            yield

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
            self._wal.start_checkpoints(self._connect, self._stop, self.hold_writers)

    # ------------------------------------------------------------------ the writer thread
    def write(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `run(connection)` in a committed transaction (shared with concurrent writes)."""
        change = _Change(run, wake=threading.Event())
        with self._guard:
            self._start_threads()
            self._queue.append(change)
            self._queued.notify()
        change.wake.wait()  # type: ignore[union-attr]  # set just above
        return self._outcome(change)

    def _outcome(self, change: _Change) -> Any:
        """Return the change's result, or raise its error as a client should hear it
        (`failure`); remember a write that found no space until one succeeds (`ping`)."""
        err = change.error
        if err is not None:
            if isinstance(failure(err), StorageFull):
                self.no_space = True
            reraise(err)
        self.no_space = False
        return change.result

    def _writes(self) -> None:
        """The writer thread: commit whatever is queued, in groups, until the store closes
        (then drain what is left)."""
        db = self._connect()
        try:
            while batch := _take(self._queue, self._queued, self._stop):
                self._commit(batch, db)
                _wake(batch)
        finally:
            db.close()

    def _commit(self, batch: list[_Change], db: sqlite3.Connection) -> None:
        """Run the batch in one transaction (`_transaction`) under the writer locks."""
        try:
            # Writers of other processes queue on a byte of the lock file, polled every
            # 0.1–2 ms, instead of in SQLite's busy handler (sleeps of up to 100 ms).
            with self.hold_writers(self._busy_seconds):
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
                failed = _run_all(db, todo)
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

    # ------------------------------------------------------------------ group commit
    async def write_async(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """`write` for a coroutine, committed on its own event loop with no thread hop.

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
        self._flush(loop, since + self._busy_seconds)

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
                    self._transaction(self._loop_db(), batch)
                finally:
                    self._locks.release_byte(WRITER_BYTE)
            finally:
                self._writing.release()
        except Exception as err:  # committed or not, it is not known to be on disk
            batch += self._pending.pop(loop, [])
            for change in batch:
                change.error = change.error or err
            _wake(batch)
            return
        if self._fsyncs:
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
        _wake(batch)

    # ------------------------------------------------------------------ fsyncs
    def _syncs(self) -> None:
        """The sync thread: fsync the WAL for every batch committed since the last fsync,
        then wake their waiters; until the store closes (then drain what is left)."""
        while batch := _take(self._unsynced, self._syncing, self._stop):
            self._sync(batch)
            _wake(batch)

    def _sync(self, batch: list[_Change]) -> None:
        """fsync the WAL for the batch (its changes get the error if that fails), and
        count the time it took into `fsync_seconds`."""
        start = time.perf_counter()
        try:
            self._wal.fsync()
        except OSError as err:  # committed, but not known to be on disk: tell the waiters
            self.no_space = self.no_space or err.errno in NO_SPACE  # the change may be kept,
            unsure = StoreUnavailable(UNSURE.format(err.strerror))  # so never "not changed"
            for change in batch:
                change.error = change.error or unsure
        took = time.perf_counter() - start
        self.fsync_seconds += FSYNC_WEIGHT * (took - self.fsync_seconds)

    def close(self) -> None:
        """Commit what this loop queued (when called on one) and what the writer has
        queued; stop the writer and sync threads (and so the checkpoints); refuse writes."""
        with suppress(RuntimeError):  # no running loop: nothing of a loop to commit here
            loop = asyncio.get_running_loop()
            if self._pending.get(loop):  # commit what this loop queued, before the locks go
                self._flush(loop, time.monotonic() + self._busy_seconds)
        with self._guard:
            self._stop.set()
            self._queued.notify_all()
            self._syncing.notify_all()
        for thread in (self._writer, self._syncer):
            if thread is not None:
                thread.join(self._busy_seconds)
