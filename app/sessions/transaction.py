"""The one transaction every change runs in: lock → load → change → save, with its undo entry.

`Transactions` holds a store and the sessions this process keeps decoded (`SessionCache`).
A change runs under the session's lock (`Store.lock`), which excludes other threads and
other worker processes, on a working copy of the session; saving bumps its version (the
ETag; `If-Match` is checked against it) and writes only the parts that changed. A change
quick enough may run the same transaction on the event loop (`_transact_on_loop`), on a
store that allows it. `SessionService` is the façade the API and the pages call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import anyio

from app.settings import Settings

from . import view_links
from .cache import SessionCache, working_copy
from .errors import ServiceError, not_found
from .ids import valid_id
from .model import Session, Snapshot
from .storage.codec import dumps, loads, unsaved
from .stores import LockTimeout, Store, StoreFull
from .stores.base import InlineStore, MissingPart

SWEEP_EVERY = 200  # creations between sweeps of expired sessions
UNDO_CELLS = 2_000_000  # numbers kept across all undo snapshots of one session
COALESCE_SECONDS = 1.0  # training requests this close together share one undo entry
T = TypeVar("T")


@dataclass(frozen=True)
class Changed(Generic[T]):
    """A saved change: the session as saved, and what the change returned."""

    session: Session
    result: T


@dataclass(frozen=True)
class Encoded:
    """A changed session's parts, and what saving them writes over the stored version
    (None where a part is unchanged: `unsaved`)."""

    parts: list[bytes]
    writes: list[bytes | None]


class Transactions:
    """Sessions in a store: read, stored new, deleted, and changed in one transaction."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._created = 0
        self._cache = SessionCache(settings.session_cache_mb * 1024 * 1024)
        self._inline: InlineStore | None = (
            cast("InlineStore", store) if getattr(store, "inline", False) else None)

    # ------------------------------------------------------------------ stored sessions
    def _store_new(self, session: Session) -> Session:
        """Store a new session (sweeping expired ones now and then) and its view token."""
        self._created += 1
        if self._created % SWEEP_EVERY == 0:
            self.store.sweep()
        try:
            parts = dumps(session)
            self.store.create(session.id, parts, self.settings.session_ttl_seconds,
                              self.settings.max_sessions, session.version)
            self._remember_stored(session, parts)
            self._draw_view_token(session.id)
        except StoreFull:
            raise ServiceError(503, "store_full", "The playground holds as many sessions as "
                               "it can right now; please try again later.", None,
                               self.settings.max_sessions) from None
        return session

    def _draw_view_token(self, session_id: str) -> None:
        """Record a new session's view token beside it (`view_links`); a store that cannot
        take it now leaves it to the session's first read by id."""
        view_links.token_if_any(self.store, session_id)

    def get(self, session_id: str) -> Session:
        """Return the session, or raise the 404."""
        if not valid_id(session_id):
            raise not_found()
        version = self.store.version(session_id)
        if version is not None:
            kept = self._cache.get(session_id, version)
            if kept is not None:
                return kept
        parts = self.store.load(session_id)
        if parts is None:
            raise not_found()
        session = loads(parts)
        self._remember_stored(session, parts)
        return session

    def get_by_view(self, token: str) -> Session:
        """Return the session a view token names (read-only links), or raise the 404."""
        return self.get(view_links.session_id_of(self.store, token))

    def view_token(self, session_id: str) -> str:
        """Return the session's view token, recording one the first time (`view_links`)."""
        return view_links.token_of(self.store, session_id)

    def view_token_if_any(self, session_id: str) -> str | None:
        """Return the session's view token, or None while the store cannot record it."""
        return view_links.token_if_any(self.store, session_id)

    def _remember_stored(self, session: Session, parts: Sequence[bytes]) -> None:
        """Remember that the store holds `parts` as this version of the session, and keep
        the session in the process's cache."""
        session.stored = (session.version, tuple(parts))
        self._cache.put(session, sum(map(len, parts)))

    def delete(self, session_id: str) -> None:
        """Delete the session (404 if unknown)."""
        self._cache.drop(session_id)
        if not valid_id(session_id) or not self.store.delete(session_id):
            raise not_found()

    def expires_at(self, session: Session) -> float:
        """Return when the session expires if left idle."""
        return session.updated_at + self.settings.session_ttl_seconds

    # ------------------------------------------------------------------ the transaction
    def _mutate(self, session_id: str, change: Callable[[Session], Any],
                if_match: int | None = None, label: str | None = None) -> Session:
        """Run `change` on the session under its lock, then save it with a new version."""
        return self._transact(session_id, change, if_match, label).session

    def _transact(self, session_id: str, change: Callable[[Session], T],
                  if_match: int | None = None, label: str | None = None) -> Changed[T]:
        """Lock, load, change, take the undo entry (`label`), save; return the session
        saved and what `change` returned."""
        if not valid_id(session_id):
            raise not_found()
        ttl = self.settings.session_ttl_seconds
        try:
            with self.store.lock(session_id, self.settings.lock_timeout):
                session = self._open(session_id, if_match)
                before = self._undo_snapshot(session, label)
                result = change(session)
                encoded = self._encode_changes(session, before)
                try:
                    self.store.save(session_id, encoded.writes, ttl, session.version)
                except MissingPart:  # the store lost parts this process took as kept
                    self.store.save(session_id, encoded.parts, ttl, session.version)
                self._remember_stored(session, encoded.parts)
                return Changed(session, result)
        except LockTimeout:
            raise self._busy() from None

    def _open(self, session_id: str, if_match: int | None) -> Session:
        """Return a copy of the session to change (the caller holds its lock)."""
        session = working_copy(self.get(session_id))
        if if_match is not None and if_match != session.version:
            raise ServiceError(412, "stale", f"The session changed (version "
                               f"{session.version}, you sent {if_match}); reload it.",
                               "If-Match", session.version)
        return session

    @staticmethod
    def _undo_snapshot(session: Session, label: str | None) -> Snapshot | None:
        """Return the undo snapshot a change labelled `label` takes first (None when it
        joins the last one: play frames, and training requests within a second)."""
        coalesce = bool(label and session.undo and session.undo[-1].label == label
                        and (label == "play" or (label.startswith("train")
                             and time.time() - session.undo[-1].at < COALESCE_SECONDS)))
        return session.snapshot(label) if label and not coalesce else None

    def _encode_changes(self, session: Session, before: Snapshot | None) -> Encoded:
        """Finish a change: push its undo snapshot, bump the version, encode the session."""
        if before is not None:
            self._push_undo_entry(session, before)
        base = session.version
        session.version += 1
        session.updated_at = time.time()
        parts = dumps(session)
        return Encoded(parts, unsaved(session, parts, base))

    def _push_undo_entry(self, session: Session, snapshot: Snapshot) -> None:
        """Push an undo snapshot, clear redo, and keep the undo stack within its budget."""
        session.undo.append(snapshot)
        session.redo.clear()
        size = max(1, session.spec.parameter_count() + session.inputs.size
                   + session.targets.size)
        depth = min(self.settings.undo_depth, max(1, UNDO_CELLS // size))
        del session.undo[: max(0, len(session.undo) - depth)]

    def _busy(self) -> ServiceError:
        return ServiceError(503, "busy", "The session is busy; try again in a moment.",
                            None, self.settings.lock_timeout)

    async def _transact_on_loop(self, session_id: str, change: Callable[[Session], T],
                                on_loop: Callable[[Session], bool],
                                if_match: int | None = None, label: str | None = None
                                ) -> Changed[T]:
        """`_transact` on the event loop, from lock to commit, when the store allows it
        (`Store.inline`) and `on_loop(session)` holds: no thread hop, no thread switch while
        it waits for the fsync. Otherwise run `_transact` in a worker thread."""
        store = self._inline
        kept = self._cache.peek(session_id) if store is not None else None
        if store is None or kept is None or not on_loop(kept):
            return await anyio.to_thread.run_sync(
                lambda: self._transact(session_id, change, if_match, label))
        try:
            async with store.lock_async(session_id, self.settings.lock_timeout):
                session = self._open(session_id, if_match)
                before = self._undo_snapshot(session, label)
                if on_loop(session):
                    result = change(session)
                else:  # changed by another process meanwhile: too long for the loop
                    result = await anyio.to_thread.run_sync(change, session)
                await self._save_on_loop(store, session_id, session, before)
        except LockTimeout:
            raise self._busy() from None
        return Changed(session, result)

    async def _save_on_loop(self, store: InlineStore, session_id: str, session: Session,
                            before: Snapshot | None) -> None:
        """Encode and save a changed session on the loop (the caller holds the lock)."""
        encoded = self._encode_changes(session, before)
        ttl = self.settings.session_ttl_seconds
        with anyio.CancelScope(shield=True):  # the lock holds until it is on disk
            try:
                await store.save_async(session_id, encoded.writes, ttl, session.version)
            except MissingPart:  # the store lost parts this process took as kept
                await store.save_async(session_id, encoded.parts, ttl, session.version)
        self._remember_stored(session, encoded.parts)

