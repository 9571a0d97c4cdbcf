"""Decoded sessions kept in this process: a request skips decoding the stored blob.

The store stays the truth. An entry is used only while the store holds the same version
of the session (one cheap read, `Store.version`), so a change made by another worker or
replica is never missed: the next request finds another version and decodes the blob.

Entries are shared by the threads of the process and must never be changed in place:
readers use them as they are, and a change works on `working_copy` and puts the copy
back once it is saved. Bounded by the size of the blobs the entries came from (a fair
measure of their memory) and by count (each may also keep a couple of small traces it
computed, see `reading.trace_of`); the least recently used go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from copy import copy as shallow_copy

from .model import Session

MAX_SESSIONS = 512  # kept at most, whatever their size (each may also hold small traces)


class SessionCache:
    """The latest decoded version of recently used sessions, by id."""

    def __init__(self, max_bytes: int, max_sessions: int = MAX_SESSIONS) -> None:
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, tuple[Session, int]] = OrderedDict()  # id -> (s, size)
        self._bytes = 0
        self._guard = threading.Lock()

    def get(self, session_id: str, version: int) -> Session | None:
        """Return the session as it is at `version`, if kept."""
        with self._guard:
            entry = self._entries.get(session_id)
            if entry is None or entry[0].version != version:
                return None
            self._entries.move_to_end(session_id)
            return entry[0]

    def peek(self, session_id: str) -> Session | None:
        """Return the latest kept version of the session, current or not (a hint: what it
        probably is; `get` says what it is)."""
        with self._guard:
            entry = self._entries.get(session_id)
        return None if entry is None else entry[0]

    def put(self, session: Session, size: int) -> None:
        """Keep `session` (its blob is `size` bytes), unless a newer version is kept."""
        if size > self.max_bytes:
            self.drop(session.id)
            return
        with self._guard:
            old = self._entries.pop(session.id, None)
            if old is not None:
                self._bytes -= old[1]
                if old[0].version > session.version:  # a slower reader's older copy
                    session, size = old
            self._entries[session.id] = (session, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._entries) > self.max_sessions:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def drop(self, session_id: str) -> None:
        """Forget the session (deleted, or its copy is no longer trusted)."""
        with self._guard:
            old = self._entries.pop(session_id, None)
            if old is not None:
                self._bytes -= old[1]

    def __len__(self) -> int:
        """Return how many sessions are kept."""
        with self._guard:
            return len(self._entries)


def working_copy(session: Session) -> Session:
    """Return a copy a change may modify: its own lists and dicts, the same arrays (arrays,
    histories included, are replaced, never written in place) and the same snapshots
    (never modified)."""
    copy = shallow_copy(session)  # no __init__ (as `dataclasses.replace` runs): 1/3 the time
    copy.edits, copy.undo, copy.redo = list(session.edits), list(session.undo), list(session.redo)
    copy.packed, copy.derived = dict(session.packed), dict(session.derived)
    return copy
