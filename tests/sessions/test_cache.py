"""Decoded sessions kept per process, the sectioned blob, and the per-key thread locks."""

from __future__ import annotations

import gc
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.engine.spec import spec_to_dict
from app.sessions.cache import SessionCache
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService
from app.sessions.storage import blob, codec, undo
from app.sessions.stores.base import LocalLocks
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings


def _worker(path: Path) -> SessionService:
    """A service on the SQLite file at `path`, as one worker process has."""
    return SessionService(SqliteStore(path, "NORMAL"), Settings(store="sqlite"))


def _params(service: SessionService, sid: str) -> list[bytes]:
    s = service.get(sid)
    return [t.weights.tobytes() + t.biases.tobytes() for t in s.parameters]


def test_a_change_by_another_worker_is_seen_at_once(tmp_path: Path) -> None:
    a, b = _worker(tmp_path / "s.sqlite3"), _worker(tmp_path / "s.sqlite3")
    sid = a.create({"example": "origin"}).id
    a.step(sid, 3)
    assert a.get(sid).progress.step == 3  # kept by a
    b.step(sid, 2)  # b decodes from the file, steps, saves
    assert a.get(sid).progress.step == 5
    assert a.step(sid, 1).session.progress.step == 6
    assert b.get(sid).progress.step == 6
    assert _params(a, sid) == _params(b, sid)


def test_steps_through_the_cache_match_steps_that_decode_every_time(tmp_path: Path) -> None:
    kept = _worker(tmp_path / "a.sqlite3")
    cold = SessionService(SqliteStore(tmp_path / "b.sqlite3", "NORMAL"),
                          Settings(store="sqlite", session_cache_mb=0))
    ids = [svc.create({"example": "xor"}).id for svc in (kept, cold)]
    for _ in range(5):
        for svc, sid in zip((kept, cold), ids, strict=True):
            svc.step(sid, 7)
            svc.patch(sid, {"cells": [{"transition": 0, "kind": "weights", "row": 0,
                                       "column": 0, "value": 0.25}]})
    kept.undo(ids[0])
    cold.undo(ids[1])
    assert _params(kept, ids[0]) == _params(cold, ids[1])
    assert len(kept._cache) == 1
    assert len(cold._cache) == 0


def test_a_refused_change_leaves_the_kept_session_as_it_was() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    service.step(sid, 2)
    before = service.get(sid)
    with pytest.raises(ServiceError):
        service.patch(sid, {"cells": [{"transition": 9, "kind": "weights", "row": 0,
                                       "column": 0, "value": 1.0}]})
    after = service.get(sid)
    assert after is before
    assert (after.version, after.progress.step, len(after.undo)) == (before.version, 2, 1)


def test_a_change_never_alters_what_readers_already_hold() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    held = service.get(sid)
    history = held.history_steps.copy()
    service.step(sid, 5)
    service.patch(sid, {"title": "changed"})
    assert held.progress.step == 0
    assert np.array_equal(held.history_steps, history)
    assert held.title != "changed"
    assert service.get(sid).progress.step == 5


@pytest.mark.parametrize(("limits", "size", "kept"), [
    ({"max_bytes": 1000}, 400, 2),  # by the bytes of the blobs
    ({"max_bytes": 10**9, "max_sessions": 3}, 10, 3),  # by count
])
def test_the_cache_is_bounded(limits: dict[str, int], size: int, kept: int) -> None:
    cache = SessionCache(**limits)
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sessions = [service.create({"example": "origin"}) for _ in range(5)]
    for s in sessions:
        cache.put(s, size)
    assert len(cache) == kept
    assert cache.get(sessions[0].id, sessions[0].version) is None  # the oldest went
    assert cache.get(sessions[4].id, sessions[4].version) is sessions[4]
    assert cache.get(sessions[4].id, sessions[4].version + 1) is None  # another version


def test_a_blob_round_trips_and_reused_sections_equal_fresh_ones() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    for k in range(3):
        service.step(sid, 10)
        service.patch(sid, {"cells": [{"transition": 1, "kind": "biases", "column": 0,
                                       "value": 0.5 + k}]})
    s = service.get(sid)
    parts = codec.dumps(s)
    s.packed.clear()
    assert codec.dumps(s) == parts  # packing the sections afresh gives the same bytes
    again = codec.loads(parts)
    assert codec.dumps(again) == parts
    assert all(np.array_equal(p.weights, q.weights) and np.array_equal(p.biases, q.biases)
               for p, q in zip(again.parameters, s.parameters, strict=True))
    assert [u.label for u in again.undo] == [u.label for u in s.undo]
    assert np.array_equal(again.history_losses, s.history_losses)


def _format_4(s: Session) -> bytes:
    """Return the session as format 4 wrote it: one blob of three framed sections (data,
    undo, core), the histories among the core's arrays."""
    core, data, stacks, initial, *_ = codec.dumps(s)
    meta, arrays = blob.unpack_blob(core)
    initial_meta, initial_arrays = blob.unpack_blob(initial)
    meta.update(initial_meta)
    arrays.update(initial_arrays)
    del meta["series"]
    meta["format"] = 4
    arrays.update(history_steps=s.history_steps, history_losses=s.history_losses,
                  test_steps=s.test_steps, test_losses=s.test_losses)
    sections = [data, stacks, blob.pack_blob(meta, arrays)]
    lengths = b"".join(len(part).to_bytes(8, "little") for part in sections)
    return b"".join([blob.MAGIC, len(sections).to_bytes(8, "little"), lengths, *sections])


def test_a_format_4_blob_still_loads_and_saves_as_parts() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    service.step(sid, 700)
    service.patch(sid, {"title": "edited"})
    s = service.get(sid)
    old = codec.loads([_format_4(s)])
    assert codec.dumps(old) == codec.dumps(s)
    assert old.history_steps.tolist() == s.history_steps.tolist()
    assert old.history_losses.tobytes() == s.history_losses.tobytes()


def _format_3(s: Session) -> bytes:
    """Return the session as format 3 wrote it: one header, one payload, the undo and redo
    snapshots' metas in the header (their arrays prefixed undo<i>. / redo<i>.)."""
    meta: dict[str, object] = {}
    arrays: dict[str, np.ndarray] = {}  # type: ignore[type-arg]
    aliases: dict[str, str] = {}
    sections = blob.sections(_format_4(s))
    for part in (sections[0], sections[2]):
        part_meta, part_arrays = blob.unpack_blob(part)
        aliases.update(part_meta.pop("aliases"))
        meta.update(part_meta)
        arrays.update(part_arrays)
    specs: list[dict[str, object]] = []
    stacks: dict[str, list[dict[str, object]]] = {"undo": [], "redo": []}
    for kind, stack in (("undo", s.undo), ("redo", s.redo)):
        for i, snap in enumerate(stack):
            p = f"{kind}{i}"
            arrays[f"{p}.inputs"], arrays[f"{p}.targets"] = snap.inputs, snap.targets
            for l, t in enumerate(snap.parameters):
                arrays[f"{p}.params.{l}.w"], arrays[f"{p}.params.{l}.b"] = t.weights, t.biases
            for name, slot in snap.state.slots.items():
                for j, a in enumerate(slot):
                    arrays[f"{p}.state.{name}.{j}"] = a
            specs.append(spec_to_dict(snap.spec))
            stacks[kind].append({
                "prefix": p, "label": snap.label, "spec": len(specs) - 1, "at": snap.at,
                "transitions": len(snap.parameters),
                "state": {"t": snap.state.t, "slots": {k: len(v) for k, v in
                                                       snap.state.slots.items()}},
                "progress": [snap.progress.step, snap.progress.epoch, snap.progress.cursor],
                "history_len": snap.history_len, "status": snap.status, "loss": snap.loss,
                "problem": None})
    meta.update(stacks, specs=specs, aliases=aliases)
    meta["test_steps"], meta["test_losses"] = [], []
    arrays.pop("test_steps"), arrays.pop("test_losses")
    return blob.MAGIC_V3 + blob.pack_blob(meta, arrays)[4:]


def test_a_format_3_blob_still_loads() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    service.step(sid, 4)
    service.patch(sid, {"title": "edited"})
    service.step(sid, 3)
    service.undo(sid)
    s = service.get(sid)
    old = codec.loads([_format_3(s)])
    assert json.dumps(spec_to_dict(old.spec)) == json.dumps(spec_to_dict(s.spec))
    assert old.progress == s.progress
    assert old.version == s.version
    assert all(np.array_equal(p.weights, q.weights)
               for p, q in zip(old.parameters, s.parameters, strict=True))
    assert [u.label for u in old.undo] == [u.label for u in s.undo]
    assert [r.progress for r in old.redo] == [r.progress for r in s.redo]
    assert all(np.array_equal(a.parameters[0].weights, b.parameters[0].weights)
               for a, b in zip(old.undo, s.undo, strict=True))


def test_an_undo_entry_is_encoded_once_and_forgotten_with_it() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    snap = service.get(sid).snapshot("held by this test only")
    twin = replace(snap)  # equal, but another snapshot
    first = undo.piece(snap)
    assert undo.piece(snap) is first
    assert undo.piece(twin) is not first
    assert undo.piece(twin).meta == first.meta
    key = id(snap)
    assert undo._pieces[key][1] is first
    del snap
    gc.collect()
    assert key not in undo._pieces


def test_thread_locks_are_forgotten_when_free() -> None:
    locks = LocalLocks()
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locks.hold("a", 5):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    assert len(locks) == 1
    release.set()
    t.join(5)
    with locks.hold("b", 5):
        pass
    assert len(locks) == 0


def test_a_trace_is_computed_once_per_state_of_the_session() -> None:
    service = SessionService(MemoryStore(), Settings(store="memory"))
    sid = service.create({"example": "origin"}).id
    s = service.get(sid)
    first = service.trace_of(s)
    assert service.trace_of(s) is first
    assert service.trace_of(s, [1]) is not first
    assert service.trace_of(s, [1]) is service.trace_of(s, [1])
    stepped = service.step(sid, 1).session
    after = service.trace_of(stepped)
    assert after is not first
    assert not np.array_equal(after.forward[0].z, first.forward[0].z)
    assert service.trace_of(s) is first  # the older state still has its own
