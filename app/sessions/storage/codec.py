"""How a session becomes bytes and back: `dumps`, `loads`, and `unsaved` for a save.

A session is stored as a list of binary parts, each (but the history's chunks) a blob of
a JSON header and raw little-endian arrays (`blob`), so parameters survive a store round
trip bit for bit and decoding is a JSON parse plus zero-copy views. The parts split what
changes at different rates — the core (parameters, optimiser state: every step), the
data, the undo stacks (`undo`) and the initial parameters (on edits), the loss history in
chunks of `CHUNK_POINTS` (a step changes the last one) — and a save writes only the parts
that changed (`unsaved`): a step on a session with 20,000 points of history rewrites a
few kilobytes, not the whole history.

Formats 3 and 4 (one blob per session) are still read; a session read in them is saved
in parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.spec import spec_from_dict
from app.engine.train import Progress

from .. import history
from ..history import Losses, Steps
from ..model import Divergence, Session, Snapshot
from .blob import (
    NATIVE_F8,
    NATIVE_I8,
    Array,
    deduplicate,
    finite_or_none,
    pack_blob,
    pack_params,
    pack_problem,
    pack_state,
    sections,
    unpack_blob,
    unpack_params,
    unpack_problem,
    unpack_state,
)
from .undo import pack_undo, snapshot_from_v3, unpack_undo

FORMAT = 5  # bump when the layout of the parts changes
CHUNK_POINTS = 512  # history points per part (16 bytes each: 8 KiB)


def dumps(s: Session) -> list[bytes]:
    """Serialise a session exactly (float64 bytes) into its parts: the core, the data
    (inputs, targets, the generated problem), the undo and redo stacks, the initial
    parameters (what reset restores), then the loss history's chunks and the test-loss
    history's (`_series`).

    Only the core is packed on every call. The data, the stacks and the initial
    parameters rarely change — a training step changes none — so each is packed once and
    its bytes kept on the session, reused while the objects they were packed from are the
    same (`is`, not equality: arrays are never changed in place); a history's full chunks
    are reused while the history only grows.
    """
    data = _section(s, "data", (s.inputs, s.targets, s.problem), _pack_data)
    undo = _section(s, "undo", (*s.undo, None, *s.redo), pack_undo)
    initial = _section(s, "initial", s.initial, _pack_initial)
    losses = _series(s, "history", s.history_steps, s.history_losses)
    tests = _series(s, "test", s.test_steps, s.test_losses)
    arrays: dict[str, Array] = {}
    meta: dict[str, Any] = {
        "format": FORMAT, "id": s.id, "version": s.version,
        "created_at": s.created_at, "updated_at": s.updated_at,
        "transitions": pack_params("params", s.parameters, arrays),
        "state": {"t": s.state.t, "slots": pack_state("state", s.state, arrays)},
        "progress": [s.progress.step, s.progress.epoch, s.progress.cursor],
        "edits": s.edits, "phase": s.phase, "status": s.status,
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "loss": finite_or_none(s.loss), "title": s.title, "example": s.example,
        "playing": s.playing, "play_until": s.play_until, "series": [len(losses), len(tests)],
    }
    unique, meta["aliases"] = deduplicate(arrays, by_content=False)
    core = pack_blob(meta, unique, s.spec)
    return [core, data, undo, initial, *losses, *tests]


def unsaved(s: Session, parts: Sequence[bytes], base: int) -> list[bytes | None]:
    """Return what a save over the store's version `base` of the session writes: each part,
    or None where the store already holds that very part (`Session.stored`)."""
    if s.stored is None or s.stored[0] != base:
        return list(parts)
    held = s.stored[1]
    return [None if i < len(held) and part is held[i] else part
            for i, part in enumerate(parts)]


def _section(s: Session, name: str, sources: tuple[Any, ...],
             pack: Callable[[Session], bytes]) -> bytes:
    """Return the part's bytes: the ones packed last time if made from the same objects."""
    cached = s.packed.get(name)
    if cached is not None and len(cached[0]) == len(sources) and all(
            a is b for a, b in zip(cached[0], sources, strict=True)):
        kept: bytes = cached[1]
        return kept
    packed = pack(s)
    s.packed[name] = (sources, packed)
    return packed


def _pack_initial(s: Session) -> bytes:
    arrays: dict[str, Array] = {}
    return pack_blob({"initial": pack_params("initial", s.initial, arrays)}, arrays)


def _pack_data(s: Session) -> bytes:
    arrays: dict[str, Array] = {"inputs": s.inputs, "targets": s.targets}
    meta = {"problem": pack_problem("problem", s.problem, arrays)}
    unique, meta["aliases"] = deduplicate(arrays)
    return pack_blob(meta, unique)


def _series(s: Session, name: str, steps: Steps, losses: Losses) -> list[bytes]:
    """Return a history as chunks of `CHUNK_POINTS` points, each its steps' int64 bytes
    then its losses' float64 bytes: the chunks packed last time for the points that have
    not changed since (compared bit for bit), new ones for the rest."""
    reused: list[bytes] = []
    cached = s.packed.get(name)
    if cached is not None:
        (old_steps, old_losses), chunks = cached
        if old_steps is steps and old_losses is losses:
            return list(chunks)
        full = min(old_steps.shape[0], steps.shape[0]) // CHUNK_POINTS
        end = full * CHUNK_POINTS
        if full and _agree(old_steps, steps, end) and _agree(old_losses, losses, end):
            reused = chunks[:full]
    fresh = [_chunk(steps[a : a + CHUNK_POINTS], losses[a : a + CHUNK_POINTS])
             for a in range(len(reused) * CHUNK_POINTS, steps.shape[0], CHUNK_POINTS)]
    chunks = reused + fresh
    s.packed[name] = ((steps, losses), chunks)
    return chunks


def _agree(a: NDArray[Any], b: NDArray[Any], end: int) -> bool:
    """Return whether two histories' arrays hold the same bits in their first `end` points
    (NaN equals itself): known without looking when both views share one buffer."""
    if history.shared(a, b):
        return True
    a, b = a[:end], b[:end]
    return a.dtype == b.dtype and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def _chunk(steps: Steps, losses: Losses) -> bytes:
    """Return one chunk of a history: the steps' int64 bytes, then the losses' float64."""
    return (np.ascontiguousarray(steps, dtype=NATIVE_I8).tobytes()
            + np.ascontiguousarray(losses, dtype=NATIVE_F8).tobytes())


def _unpack_series(chunks: Sequence[bytes]) -> tuple[Steps, Losses]:
    """Return the history that `_series` split into `chunks`."""
    if not chunks:
        return history.empty()
    steps, losses = [], []
    for chunk in chunks:
        n = len(chunk) // 16
        steps.append(np.frombuffer(chunk, dtype=NATIVE_I8, count=n))
        losses.append(np.frombuffer(chunk, dtype=NATIVE_F8, count=n, offset=8 * n))
    return (np.concatenate(steps).astype(np.int64, copy=False),
            np.concatenate(losses).astype(np.float64, copy=False))


def loads(parts: Sequence[bytes]) -> Session:
    """Rebuild a session from `dumps` output (or from the one blob of formats 3 and 4)."""
    blobs, data_part, undo_part = _layout(parts)
    if undo_part is not None:
        undo, redo = unpack_undo(undo_part)
    meta, data = _fields(blobs)
    if undo_part is None:  # format 3: the stacks' metas in the one header
        specs = [spec_from_dict(d) for d in meta["specs"]]
        undo = [snapshot_from_v3(m, data, specs) for m in meta["undo"]]
        redo = [snapshot_from_v3(m, data, specs) for m in meta["redo"]]
    chunks: tuple[Sequence[bytes], Sequence[bytes]] | None = None  # format 5's histories
    if "series" in meta:
        count = meta["series"][0]
        chunks = (parts[4 : 4 + count], parts[4 + count :])
        data["history_steps"], data["history_losses"] = _unpack_series(chunks[0])
        data["test_steps"], data["test_losses"] = _unpack_series(chunks[1])
    session = _session(meta, data, undo, redo)
    if data_part is not None and undo_part is not None:  # as read: the next save reuses them
        session.packed["data"] = ((session.inputs, session.targets, session.problem),
                                  data_part)
        session.packed["undo"] = ((*session.undo, None, *session.redo), undo_part)
    if chunks is not None:
        session.packed["initial"] = (session.initial, parts[3])
        session.packed["history"] = ((session.history_steps, session.history_losses),
                                     list(chunks[0]))
        session.packed["test"] = ((session.test_steps, session.test_losses), list(chunks[1]))
    return session


def _layout(parts: Sequence[bytes]) -> tuple[list[bytes], bytes | None, bytes | None]:
    """Return the blobs that hold the session's fields, then its data and undo parts when
    they stand apart from the core (formats 4 and 5)."""
    if len(parts) == 1:  # formats 3 and 4: the history is among the core's arrays
        split = sections(parts[0])
        blobs = split if len(split) == 1 else [split[0], split[2]]
        if len(split) == 3:
            return blobs, split[0], split[1]
        return blobs, None, None
    # format 5: core, data, undo, initial, then the histories' chunks
    return [parts[1], parts[0], parts[3]], parts[1], parts[2]


def _fields(blobs: Sequence[bytes]) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Return the blobs' headers merged into one, and their arrays (aliases resolved)."""
    meta: dict[str, Any] = {}
    data: dict[str, NDArray[Any]] = {}
    aliases: dict[str, str] = {}
    for part in blobs:
        part_meta, part_data = unpack_blob(part)
        aliases.update(part_meta.pop("aliases", {}))
        meta.update(part_meta)
        data.update(part_data)
    for name, target in aliases.items():
        data[name] = data[target].copy()
    return meta, data


def _session(meta: dict[str, Any], data: dict[str, NDArray[Any]],
             undo: list[Snapshot], redo: list[Snapshot]) -> Session:
    """Return the session that the merged header and arrays describe."""
    div = meta["divergence"]
    legacy_test = history.of(meta.get("test_steps", []), meta.get("test_losses", []))  # format 3
    return Session(
        id=meta["id"], spec=spec_from_dict(meta["spec"]),
        inputs=data["inputs"], targets=data["targets"],
        parameters=unpack_params("params", meta["transitions"], data),
        initial=unpack_params("initial", meta["initial"], data),
        state=unpack_state("state", meta["state"], data),
        created_at=meta["created_at"], updated_at=meta["updated_at"], version=meta["version"],
        progress=Progress(*meta["progress"]),
        history_steps=data["history_steps"], history_losses=data["history_losses"],
        edits=list(meta["edits"]), phase=meta["phase"], status=meta["status"],
        divergence=None if div is None else Divergence(**div), loss=meta["loss"],
        title=meta["title"], example=meta["example"], playing=meta.get("playing", False),
        play_until=meta.get("play_until"),
        problem=unpack_problem("problem", meta.get("problem"), data),
        test_steps=data.get("test_steps", legacy_test[0]),
        test_losses=data.get("test_losses", legacy_test[1]),
        undo=undo, redo=redo,
    )
