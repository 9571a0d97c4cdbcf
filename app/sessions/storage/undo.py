"""The undo part: a session's undo and redo stacks as one section.

Its header lists each snapshot's scalars, naming its arrays by content digest, and a pool
of the distinct arrays; the payload is the pool's bytes, so the many arrays snapshots
share (the data, unchanged layers) are stored once. A snapshot never changes, so each is
encoded once (`piece`) and its encoding kept beside it, in a table keyed by the snapshot
itself and forgotten with it: pushing one snapshot onto a stack of fifty costs one
encoding and a join, not fifty.
"""

from __future__ import annotations

import hashlib
import json
import math
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from app.engine.spec import NetworkSpec, spec_from_dict
from app.engine.train import Progress

from ..model import Session, Snapshot
from .blob import (
    Array,
    finite_or_none,
    pack_params,
    pack_problem,
    pack_state,
    spec_dict,
    unpack_params,
    unpack_problem,
    unpack_state,
)

MAGIC_UNDO = b"BPU4"  # the undo section of a format-4 blob, and format 5's undo part


@dataclass(frozen=True)
class Piece:
    """A snapshot as the undo section stores it."""

    meta: str  # JSON: its scalars, and its arrays' names → content digests
    arrays: dict[str, tuple[str, list[int], bytes]]  # digest -> dtype, shape, bytes
    spec_key: str
    spec: dict[str, Any]


# Each snapshot's piece, by the snapshot's id, with a weak reference to the snapshot that
# drops the entry when the snapshot goes (snapshots compare by value, so they cannot be
# the keys of a WeakKeyDictionary). The reference also tells a live snapshot from a dead
# one whose id was reused. No lock: two threads encoding one snapshot at once at worst
# encode it twice (the replaced reference dies without dropping the entry), and the drop
# runs while the snapshot is being freed, before its id can be reused (a lock there could
# deadlock, as a collection may run the drop inside another).
_pieces: dict[int, tuple[weakref.ref[Snapshot], Piece]] = {}


def pack_undo(s: Session) -> bytes:
    """Return the undo section of the session's undo and redo stacks."""
    pool: dict[str, tuple[str, list[int], bytes]] = {}  # digest -> dtype, shape, bytes
    specs: dict[str, Any] = {}
    texts: dict[str, list[str]] = {"undo": [], "redo": []}
    for kind, stack in (("undo", s.undo), ("redo", s.redo)):
        for snap in stack:
            encoded = piece(snap)
            texts[kind].append(encoded.meta)
            specs.setdefault(encoded.spec_key, encoded.spec)
            for key, entry in encoded.arrays.items():
                pool.setdefault(key, entry)
    table: dict[str, list[Any]] = {}
    offset = 0
    for key, (dtype, shape, raw) in pool.items():
        table[key] = [dtype, shape, offset, len(raw)]
        offset += len(raw)
    header = (f'{{"undo":[{",".join(texts["undo"])}],"redo":[{",".join(texts["redo"])}],'
              f'"specs":{json.dumps(specs)},"pool":{json.dumps(table)}}}').encode()
    return b"".join([MAGIC_UNDO, len(header).to_bytes(8, "little"), header,
                     *(raw for _, _, raw in pool.values())])


def piece(snap: Snapshot) -> Piece:
    """Return the snapshot's piece of the undo section (encoded on first use)."""
    entry = _pieces.get(id(snap))
    if entry is not None and entry[0]() is snap:
        return entry[1]
    encoded = _encode(snap)
    key = id(snap)
    _pieces[key] = (weakref.ref(snap, lambda ref: _forget(key, ref)), encoded)
    return encoded


def _forget(key: int, ref: weakref.ref[Snapshot]) -> None:
    """Drop the piece of a snapshot that is gone (unless its entry was replaced since)."""
    entry = _pieces.get(key)
    if entry is not None and entry[0] is ref:
        _pieces.pop(key, None)


def _encode(snap: Snapshot) -> Piece:
    """Return the snapshot encoded: its scalars' JSON and its arrays by content digest."""
    own: dict[str, Array] = {"inputs": snap.inputs, "targets": snap.targets}
    meta: dict[str, Any] = {
        "label": snap.label, "spec": _spec_key(snap.spec), "at": snap.at,
        "transitions": pack_params("params", snap.parameters, own),
        "state": {"t": snap.state.t, "slots": pack_state("state", snap.state, own)},
        "progress": [snap.progress.step, snap.progress.epoch, snap.progress.cursor],
        "history_len": snap.history_len, "status": snap.status,
        "loss": finite_or_none(snap.loss),
        "problem": pack_problem("problem", snap.problem, own),
    }
    arrays: dict[str, tuple[str, list[int], bytes]] = {}
    names: dict[str, str] = {}
    for name, arr in own.items():
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        raw = data.tobytes()
        key = hashlib.blake2b(f"{data.dtype.str}{data.shape}".encode() + raw,
                              digest_size=16).hexdigest()
        names[name] = key
        arrays.setdefault(key, (data.dtype.str, list(data.shape), raw))
    meta["arrays"] = names
    return Piece(json.dumps(meta), arrays, meta["spec"], spec_dict(snap.spec))


def unpack_undo(section: bytes) -> tuple[list[Snapshot], list[Snapshot]]:
    """Return the undo and redo stacks of an undo section (arrays: views of one copy)."""
    if section[:4] != MAGIC_UNDO:
        raise ValueError("not an undo section")
    size = int.from_bytes(section[4:12], "little")
    meta = json.loads(section[12 : 12 + size])
    payload = bytearray(section[12 + size :])
    pool = {key: np.frombuffer(payload, dtype=np.dtype(kind), count=math.prod(shape),
                               offset=offset).reshape(shape)
            for key, (kind, shape, offset, _) in meta["pool"].items()}
    specs = {key: spec_from_dict(d) for key, d in meta["specs"].items()}

    def snapshot(m: dict[str, Any]) -> Snapshot:
        z = {name: pool[key] for name, key in m["arrays"].items()}
        return Snapshot(
            m["label"], specs[m["spec"]], z["inputs"], z["targets"],
            unpack_params("params", m["transitions"], z), unpack_state("state", m["state"], z),
            Progress(*m["progress"]), m["history_len"], m["status"], m["loss"],
            unpack_problem("problem", m.get("problem"), z), m.get("at", 0.0))

    return [snapshot(m) for m in meta["undo"]], [snapshot(m) for m in meta["redo"]]


def snapshot_from_v3(meta: dict[str, Any], z: Any, specs: list[NetworkSpec]) -> Snapshot:
    """Return a snapshot of a format-3 blob (its arrays among the blob's, by prefix)."""
    p = meta["prefix"]
    return Snapshot(
        meta["label"], specs[meta["spec"]], z[f"{p}.inputs"], z[f"{p}.targets"],
        unpack_params(f"{p}.params", meta["transitions"], z),
        unpack_state(f"{p}.state", meta["state"], z), Progress(*meta["progress"]),
        meta["history_len"], meta["status"], meta["loss"],
        unpack_problem(f"{p}.problem", meta.get("problem"), z), meta.get("at", 0.0),
    )


@lru_cache(maxsize=512)
def _spec_key(spec: NetworkSpec) -> str:
    """Return a short key naming the spec in an undo section (a digest of its JSON)."""
    text = json.dumps(spec_dict(spec), sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=8).hexdigest()
