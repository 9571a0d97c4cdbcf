"""A session is saved as parts: a save writes only the parts that changed, and whatever the
store holds decodes to exactly the session the service has."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.sessions import history, model
from app.sessions.service import SessionService
from app.sessions.storage import codec
from app.sessions.stores import Store
from app.sessions.stores.base import MissingPart
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.redis import RedisStore
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings
from tests.conftest import run_async
from tests.sessions.test_cache import _format_4


class Recording:
    """A store that passes everything on and remembers what each save was given."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.saves: list[list[bytes | None]] = []

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        self.saves.append(list(parts))
        self.inner.save(session_id, parts, ttl, version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _service(store: Any) -> SessionService:
    return SessionService(store, Settings(store="memory", max_iterations=100_000))


def _assert_store_holds(service: SessionService, sid: str) -> model.Session:
    """Assert that decoding what the store holds gives the session the service has."""
    held = service.store.load(sid)
    assert held is not None
    fresh = codec.loads(held)
    kept = service.get(sid)
    assert fresh.version == kept.version
    assert fresh.history_steps.tolist() == kept.history_steps.tolist()
    assert fresh.history_losses.tobytes() == kept.history_losses.tobytes()
    assert fresh.test_losses.tobytes() == kept.test_losses.tobytes()
    fresh.packed.clear()
    kept_again = codec.loads(codec.dumps(kept))
    kept_again.packed.clear()
    assert codec.dumps(fresh) == codec.dumps(kept_again)
    return fresh


def test_a_step_rewrites_the_core_and_the_last_chunk_of_history_only() -> None:
    store = Recording(MemoryStore())
    service = _service(store)
    sid = service.create({"example": "origin"}).id
    service.step(sid, 2 * codec.CHUNK_POINTS + 100)  # two full chunks and a partial one
    service.step(sid, 1)
    writes = store.saves[-1]
    assert len(writes) == 7  # core, data, undo, initial, three chunks of history
    assert writes[0] is not None  # the parameters changed
    assert writes[1] is None  # the data did not
    assert writes[3] is None  # nor the initial parameters
    assert writes[4] is None  # full chunks are kept
    assert writes[5] is None
    assert writes[6] is not None  # the last chunk, rewritten
    assert len(writes[6]) == 16 * 101
    _assert_store_holds(service, sid)


def test_the_step_that_fills_a_chunk_and_the_next_one_start_a_new_part() -> None:
    store = Recording(MemoryStore())
    service = _service(store)
    sid = service.create({"example": "origin"}).id
    service.step(sid, codec.CHUNK_POINTS - 1)
    service.step(sid, 1)
    assert len(store.saves[-1]) == 5
    assert store.saves[-1][4] is not None
    service.step(sid, 1)
    assert len(store.saves[-1]) == 6
    assert store.saves[-1][4] is None
    assert len(store.saves[-1][5] or b"") == 16
    _assert_store_holds(service, sid)


def test_every_kind_of_change_leaves_the_store_holding_the_session(store: Store) -> None:
    service = _service(store)
    sid = service.create({"example": "origin"}).id
    changes: list[Callable[[], Any]] = [
        lambda: service.step(sid, 1100),
        lambda: service.step(sid, 1),
        lambda: service.patch(sid, {"cells": [{"transition": 1, "kind": "biases",
                                               "column": 0, "value": 0.25}]}),
        lambda: service.step(sid, 600),
        lambda: service.undo(sid),  # the history is shorter: parts past its end go
        lambda: service.step(sid, 3),
        lambda: service.undo(sid),
        lambda: service.redo(sid),
        lambda: service.patch(sid, {"spec": {"layer_sizes": [2, 4, 2]}}),
        lambda: service.step(sid, 50),
        lambda: service.reset(sid),
        lambda: service.step(sid, 1),
    ]
    for change in changes:
        change()
        _assert_store_holds(service, sid)
    assert service.get(sid).history_steps.tolist() == [1]


def test_a_history_past_the_stored_bound_is_decimated_and_saved_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "STORE_POINTS", 3 * codec.CHUNK_POINTS)
    store = Recording(MemoryStore())
    service = _service(store)
    sid = service.create({"example": "origin"}).id
    for _ in range(4):
        service.step(sid, codec.CHUNK_POINTS)
        _assert_store_holds(service, sid)
    steps = service.get(sid).history_steps
    assert steps[0] == 1
    assert steps[-1] == 4 * codec.CHUNK_POINTS
    assert len(steps) <= 3 * codec.CHUNK_POINTS


def test_two_workers_taking_turns_never_save_over_a_copy_they_did_not_read(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    a = SessionService(SqliteStore(path, "NORMAL"), Settings(store="sqlite"))
    b = SessionService(SqliteStore(path, "NORMAL"), Settings(store="sqlite"))
    sid = a.create({"example": "origin"}).id
    a.step(sid, codec.CHUNK_POINTS + 10)
    for k in range(6):
        (a if k % 2 else b).step(sid, 1 + 300 * (k % 3))
        for worker in (a, b):
            _assert_store_holds(worker, sid)
    steps = a.get(sid).history_steps.tolist()
    assert steps == list(range(1, len(steps) + 1))  # no point lost, none repeated


def test_a_session_from_before_parts_loads_and_its_next_save_writes_parts(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    source = _service(MemoryStore())
    sid = source.create({"example": "origin"}).id
    source.step(sid, 700)
    before = source.get(sid)
    with sqlite3.connect(path) as conn:  # a file as the store wrote it before parts
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, blob BLOB NOT NULL, "
                     "expires_at REAL NOT NULL, version INTEGER NOT NULL DEFAULT 0)")
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                     (sid, _format_4(before), time.time() + 60, before.version))
    conn.close()
    service = SessionService(SqliteStore(path, "NORMAL"), Settings(store="sqlite"))
    assert service.get(sid).history_losses.tobytes() == before.history_losses.tobytes()
    service.step(sid, 1)
    fresh = _assert_store_holds(service, sid)
    assert fresh.history_losses[:-1].tobytes() == before.history_losses.tobytes()
    with sqlite3.connect(path) as conn:
        (legacy,) = conn.execute("SELECT length(blob) FROM sessions").fetchone()
        (parts,) = conn.execute("SELECT COUNT(*) FROM parts").fetchone()
    conn.close()
    assert (legacy, parts) == (0, 6)  # core, data, undo, initial, two chunks of history


# ------------------------------------------------------------------ the stores' contract
def test_none_keeps_a_part_and_parts_past_the_end_are_dropped(store: Store) -> None:
    store.create("a" * 22, [b"core", b"data", b"h0", b"h1"], ttl=60, cap=10, version=1)
    with store.lock("a" * 22, timeout=5):
        store.save("a" * 22, [b"core2", None, b"h0b"], ttl=60, version=2)
    assert store.load("a" * 22) == [b"core2", b"data", b"h0b"]
    with store.lock("a" * 22, timeout=5):
        store.save("a" * 22, [None, None, None, b"h1c", b"h2"], ttl=60, version=3)
    assert store.load("a" * 22) == [b"core2", b"data", b"h0b", b"h1c", b"h2"]
    assert store.version("a" * 22) == 3


def test_keeping_a_part_the_store_does_not_hold_is_refused_and_changes_nothing(
        store: Store) -> None:
    store.create("b" * 22, [b"core", b"data"], ttl=60, cap=10, version=4)
    with store.lock("b" * 22, timeout=5), pytest.raises(MissingPart, match="part 2"):
        store.save("b" * 22, [b"new", None, None], ttl=60, version=5)
    assert (store.load("b" * 22), store.version("b" * 22)) == ([b"core", b"data"], 4)


def test_deleting_a_session_deletes_its_parts(store: Store) -> None:
    store.create("c" * 22, [b"core", b"data", b"h0"], ttl=60, cap=10)
    assert store.delete("c" * 22)
    assert store.load("c" * 22) is None
    store.create("c" * 22, [b"again"], ttl=60, cap=10)
    assert store.load("c" * 22) == [b"again"]


def test_sqlite_sweeping_an_expired_session_removes_its_parts(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    s.create("d" * 22, [b"core", b"data", b"h0"], ttl=0.05, cap=10)
    s.create("e" * 22, [b"kept"], ttl=60, cap=10)
    time.sleep(0.1)
    assert s.load("d" * 22) is None
    assert s.sweep() == 1
    with sqlite3.connect(tmp_path / "s.sqlite3") as conn:
        rows = conn.execute("SELECT id, idx FROM parts ORDER BY id, idx").fetchall()
    conn.close()
    s.close()
    assert rows == [("e" * 22, 0)]


def test_a_history_saved_in_chunks_round_trips_bit_for_bit() -> None:
    service = _service(MemoryStore())
    sid = service.create({"example": "origin"}).id
    service.step(sid, 3 * codec.CHUNK_POINTS)
    s = service.get(sid)
    parts = codec.dumps(s)
    assert [len(p) for p in parts[4:]] == [16 * codec.CHUNK_POINTS] * 3
    again = codec.loads(parts)
    assert np.array_equal(again.history_steps, s.history_steps)
    assert again.history_losses.tobytes() == s.history_losses.tobytes()
    assert codec.dumps(again) == parts


def _lose_parts(store: Store, sid: str) -> None:
    """Drop every part of the session but the first, its version kept (as a Redis evicting
    under maxmemory, or a hand-edited file, can leave it)."""
    if isinstance(store, MemoryStore):
        parts, expires, version = store._blobs[sid]
        store._blobs[sid] = (parts[:1], expires, version)
    elif isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute("DELETE FROM parts WHERE id = ? AND idx > 0", (sid,))
        conn.close()
    else:
        assert isinstance(store, RedisStore)
        key = store._parts_key(sid)
        store._redis.hdel(key, *[f for f in store._redis.hkeys(key) if f != b"0"])


def test_a_store_that_lost_parts_gets_them_all_at_the_next_change(store: Store) -> None:
    service = _service(store)
    sid = service.create({"example": "origin"}).id
    service.step(sid, 600)
    _lose_parts(store, sid)
    service.step(sid, 1)  # the kept parts are missing: this save writes every part
    _assert_store_holds(service, sid)
    _lose_parts(store, sid)

    async def step() -> None:
        await service.step_async(sid, 1)

    run_async(step())
    _assert_store_holds(service, sid)
    assert service.get(sid).history_steps.tolist() == list(range(1, 603))
