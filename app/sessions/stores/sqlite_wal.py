"""The SQLite store's WAL: its file, kept open for fsyncs, and its upkeep (checkpoints).

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
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path

from .base import LockTimeout

CHECKPOINT_SECONDS = 0.5  # how often the background thread moves the WAL into the database
WAL_LIMIT_FRAMES = 4096  # pages in the WAL (16 MB) past which a checkpoint restarts it
WAL_MAX_FRAMES = 4 * WAL_LIMIT_FRAMES  # pages of WAL file past which it is truncated
WAL_DISK_SHARE = 16  # on a small file system the WAL's limit is this fraction of it
WAL_MIN_FRAMES = 16  # … but never fewer pages than this
PAGE_BYTES = 4096 + 24  # a WAL frame: a page of the default size and its header
_datasync = getattr(os, "fdatasync", os.fsync)  # flushes data and size, not timestamps

Connect = Callable[[], sqlite3.Connection]  # opens a connection to the database
HoldWriters = Callable[[float], AbstractContextManager[None]]  # holds off every writer


def _disk_frames(directory: Path) -> int:
    """Return the WAL frames that a `WAL_DISK_SHARE`th of the file system holds."""
    try:
        fs = os.statvfs(directory)
    except (OSError, AttributeError):  # unknown: as on a large disk
        return WAL_MAX_FRAMES
    return max(WAL_MIN_FRAMES, fs.f_blocks * fs.f_frsize // WAL_DISK_SHARE // PAGE_BYTES)


class Wal:
    """The WAL of the database at `database`: the descriptor its fsyncs use, its size
    limits, and the checkpoint thread that keeps it within them."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-wal")
        self._fd: int | None = None  # the WAL, kept open for fsyncs (until `close`)
        self._fd_lock = threading.Lock()  # held by an fsync, and by `close` closing the WAL
        self._closed = False
        self._disk_frames = _disk_frames(database.parent)  # a share of the file system
        self._idle_frames = -1  # the WAL's frames at the last round (`checkpoint`)
        self._checkpointer: threading.Thread | None = None

    def configure(self, conn: sqlite3.Connection) -> None:
        """Set a new connection's checkpoint and WAL-size pragmas: the background thread
        checkpoints; on a small disk SQLite does too, past 2 limits."""
        limit, most = self.frames()
        small = limit < WAL_LIMIT_FRAMES
        conn.execute(f"PRAGMA wal_autocheckpoint={2 * limit if small else 0}")
        conn.execute(f"PRAGMA journal_size_limit={most * PAGE_BYTES}")  # kept at a restart

    def frames(self) -> tuple[int, int]:
        """Return the WAL's limit and its file's maximum, in frames: `WAL_LIMIT_FRAMES` and
        `WAL_MAX_FRAMES`, or less on a small file system (its `WAL_DISK_SHARE`th)."""
        share = self._disk_frames
        return min(WAL_LIMIT_FRAMES, share), min(WAL_MAX_FRAMES, 4 * share)

    def fsync(self) -> None:
        """Flush the WAL file to disk: its data and size, not its timestamps (`fdatasync`,
        as SQLite does; fsync where there is none). It acts on the file, through any
        descriptor.

        The WAL keeps the file open: SQLite removes the WAL only when the last
        connection to the database closes, and this object keeps its own open until
        `close`. Each system call hands the GIL back and waits to take it again from the
        busy event loop; one call instead of three per fsync."""
        with self._fd_lock:  # `close` waits for the fsync before it closes the file
            if self._fd is not None:
                _datasync(self._fd)
                return
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:  # checkpointed and removed: in the file now
                return
            try:
                _datasync(fd)
            finally:
                if self._closed:  # a late commit after `close`: keep nothing open
                    os.close(fd)
                else:
                    self._fd = fd

    def size(self) -> int:
        """Return the WAL file's size (0 when there is none)."""
        try:
            return self.path.stat().st_size
        except OSError:  # gone meanwhile: nothing to empty
            return 0

    def start_checkpoints(self, connect: Connect, stop: threading.Event,
                          hold_writers: HoldWriters) -> None:
        """Start the checkpoint thread: a round every CHECKPOINT_SECONDS until `stop`."""
        self._checkpointer = threading.Thread(target=self._checkpoints,
                                              args=(connect, stop, hold_writers),
                                              daemon=True, name="sqlite-checkpoints")
        self._checkpointer.start()

    def _checkpoints(self, connect: Connect, stop: threading.Event,
                     hold_writers: HoldWriters) -> None:
        """Checkpoint the WAL every CHECKPOINT_SECONDS until `stop` is set."""
        conn = connect()
        try:
            while not stop.wait(CHECKPOINT_SECONDS):
                with suppress(sqlite3.Error, LockTimeout):  # busy: the next round catches up
                    self.checkpoint(conn, hold_writers)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection, hold_writers: HoldWriters) -> None:
        """One round: a passive checkpoint; past the limit, the WAL starts again from its
        first page (truncated if the file grew past its maximum); idle since the last
        round and all copied, it is truncated (no disk space held at rest)."""
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        limit, most = self.frames()
        idle, self._idle_frames = frames == self._idle_frames, frames
        if frames > limit:
            self._restart(conn, "TRUNCATE" if self.size() > most * PAGE_BYTES else "RESTART",
                          hold_writers)
        elif idle and frames == copied and self.size() > 0:
            self._restart(conn, "TRUNCATE", hold_writers)

    @staticmethod
    def _restart(conn: sqlite3.Connection, mode: str, hold_writers: HoldWriters) -> None:
        """Finish the checkpoint so that the next commit starts the WAL again (`RESTART`,
        or `TRUNCATE` to empty the file too), with every writer of every process held off
        meanwhile (readers only finish what they read)."""
        with hold_writers(CHECKPOINT_SECONDS):
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()  # a fixed word

    def close(self) -> None:
        """Close the WAL's descriptor (after any fsync running); wait for the checkpoint
        thread, which the store's `stop` ends."""
        with self._fd_lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._checkpointer is not None:
            self._checkpointer.join(10)
