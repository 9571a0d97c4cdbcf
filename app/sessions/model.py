"""A session: one network with its data, parameters, optimiser state and history.

Sessions are stored as a list of binary parts (`dumps`): each a JSON header (scalars, the
spec, a table of arrays) followed by the arrays' raw little-endian bytes, so parameters
survive a store round trip bit for bit and decoding is a JSON parse plus zero-copy views.
The parts split what changes at different rates — the core (parameters, optimiser state:
every step), the data, the undo stacks and the initial parameters (on edits), the loss
history in chunks of `CHUNK_POINTS` (a step changes the last one) — and a save writes only
the parts that changed (`unsaved`): a step on a session with 20,000 points of history
rewrites a few kilobytes, not the whole history.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.optimizers import OptimizerState
from app.engine.params import Parameters, Transition
from app.engine.spec import NetworkSpec, spec_from_dict, spec_to_dict
from app.engine.train import Progress

from . import history
from .history import Losses, Steps

Array = NDArray[np.float64]
FORMAT = 5  # bump when the layout of the parts changes
_NATIVE_F8 = np.dtype("<f8")  # float64 as stored; on little-endian machines, as in memory
_NATIVE_I8 = np.dtype("<i8")
MAGIC = b"BPS4"  # a part with a header and arrays (`_pack_blob`); format 4's one framed blob
MAGIC_V3 = b"BPS3"  # format 3: one blob of one section; still read
CHUNK_POINTS = 512  # history points per part (16 bytes each: 8 KiB)
MAGIC_UNDO = b"BPU4"  # the undo section of a format-4 blob (see `_pack_undo`)


@dataclass
class Divergence:
    """Where training met its first non-finite value."""

    step: int
    layer: int | None
    quantity: str

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {"step": self.step, "layer": self.layer, "quantity": self.quantity}


@dataclass
class Snapshot:
    """What undo restores: everything an edit or a training run can change."""

    label: str
    spec: NetworkSpec
    inputs: Array
    targets: Array
    parameters: Parameters
    state: OptimizerState
    progress: Progress
    history_len: int
    status: str
    loss: float | None
    problem: Problem | None = None
    at: float = 0.0  # when it was taken (training steps close together share one entry)
    # Its part of the undo section, encoded once (a snapshot never changes): see `_piece`.
    piece: Piece | None = field(default=None, repr=False, compare=False)


@dataclass
class Problem:
    """A generated 2-D problem: its recipe, its plane points and its held-out test data."""

    recipe: dict[str, Any]  # dataset (name, points, noise, seed, classes), test_ratio, features
    kind: str  # classification | regression
    classes: int | None
    plane_train: Array  # (train observations, 2): the points, before features
    plane_test: Array  # (test observations, 2)
    test_inputs: Array  # (test observations, features)
    test_targets: Array  # (test observations, outputs)


@dataclass
class Session:
    """Everything about one network, as stored."""

    id: str
    spec: NetworkSpec
    inputs: Array  # (observations, inputs)
    targets: Array  # (observations, outputs)
    parameters: Parameters
    initial: Parameters  # what "reset" restores
    state: OptimizerState
    created_at: float
    updated_at: float
    version: int = 1
    progress: Progress = field(default_factory=Progress)
    history_steps: Steps = field(default_factory=lambda: history.empty()[0])  # (points,)
    history_losses: Losses = field(default_factory=lambda: history.empty()[1])  # (points,)
    edits: list[int] = field(default_factory=list)  # steps at which the spec was edited
    phase: int = 0  # phase-stepper position
    status: str = "ok"  # ok | diverged
    divergence: Divergence | None = None
    loss: float | None = None  # over all the data, for the current parameters
    title: str = ""
    example: str | None = None
    playing: bool = False  # a page is playing it (frames keep coming until paused)
    play_until: float | None = None  # Play stops once every output is this close to its target
    problem: Problem | None = None  # set when the data was generated from a dataset
    test_steps: Steps = field(default_factory=lambda: history.empty()[0])  # with a test loss
    test_losses: Losses = field(default_factory=lambda: history.empty()[1])
    undo: list[Snapshot] = field(default_factory=list)
    redo: list[Snapshot] = field(default_factory=list)
    # Parts of the last `dumps`, by name: (the objects packed, the bytes), reused while
    # the objects are the same; a history's chunks: ((steps, losses), [bytes, …]).
    packed: dict[str, tuple[tuple[Any, ...], Any]] = field(
        default_factory=dict, repr=False, compare=False)
    # What the store holds: (version, its parts) — the objects this process saved or read.
    stored: tuple[int, tuple[bytes, ...]] | None = field(default=None, repr=False,
                                                        compare=False)
    # What was computed from it, never stored: the service's traces, by the rows asked
    # for, each with the objects it came from (see `SessionService.trace_of`).
    derived: dict[Any, tuple[tuple[Any, ...], Any]] = field(
        default_factory=dict, repr=False, compare=False)

    def snapshot(self, label: str) -> Snapshot:
        """Return what undo needs to come back to the current state."""
        return Snapshot(label, self.spec, self.inputs, self.targets, self.parameters,
                        self.state.copy(), self.progress, len(self.history_steps),
                        self.status, self.loss, self.problem, time.time())


def _pack_params(prefix: str, params: Parameters, arrays: dict[str, Array]) -> int:
    for l, t in enumerate(params):
        arrays[f"{prefix}.{l}.w"] = t.weights
        arrays[f"{prefix}.{l}.b"] = t.biases
    return len(params)


def _unpack_params(prefix: str, count: int, z: Any) -> Parameters:
    return tuple(Transition(z[f"{prefix}.{l}.w"], z[f"{prefix}.{l}.b"]) for l in range(count))


def _pack_state(prefix: str, state: OptimizerState, arrays: dict[str, Array]) -> dict[str, int]:
    for name, arrs in state.slots.items():
        for i, a in enumerate(arrs):
            arrays[f"{prefix}.{name}.{i}"] = a
    return {name: len(arrs) for name, arrs in state.slots.items()}


def _unpack_state(prefix: str, meta: dict[str, Any], z: Any) -> OptimizerState:
    slots = {name: [z[f"{prefix}.{name}.{i}"] for i in range(n)]
             for name, n in meta["slots"].items()}
    return OptimizerState(slots, meta["t"])


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _pack_problem(prefix: str, p: Problem | None, arrays: dict[str, Array]) -> Any:
    if p is None:
        return None
    for name in ("plane_train", "plane_test", "test_inputs", "test_targets"):
        arrays[f"{prefix}.{name}"] = getattr(p, name)
    return {"recipe": p.recipe, "kind": p.kind, "classes": p.classes}


def _unpack_problem(prefix: str, meta: Any, z: Any) -> Problem | None:
    if meta is None:
        return None
    return Problem(meta["recipe"], meta["kind"], meta["classes"],
                   *(z[f"{prefix}.{n}"] for n in ("plane_train", "plane_test", "test_inputs",
                                                  "test_targets")))


def _snapshot_from(meta: dict[str, Any], z: Any, specs: list[NetworkSpec]) -> Snapshot:
    """Return a snapshot of a format-3 blob."""
    p = meta["prefix"]
    return Snapshot(
        meta["label"], specs[meta["spec"]], z[f"{p}.inputs"], z[f"{p}.targets"],
        _unpack_params(f"{p}.params", meta["transitions"], z),
        _unpack_state(f"{p}.state", meta["state"], z), Progress(*meta["progress"]),
        meta["history_len"], meta["status"], meta["loss"],
        _unpack_problem(f"{p}.problem", meta.get("problem"), z), meta.get("at", 0.0),
    )


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
    undo = _section(s, "undo", (*s.undo, None, *s.redo), _pack_undo)
    initial = _section(s, "initial", s.initial, _pack_initial)
    losses = _series(s, "history", s.history_steps, s.history_losses)
    tests = _series(s, "test", s.test_steps, s.test_losses)
    arrays: dict[str, Array] = {}
    meta: dict[str, Any] = {
        "format": FORMAT, "id": s.id, "version": s.version,
        "created_at": s.created_at, "updated_at": s.updated_at,
        "transitions": _pack_params("params", s.parameters, arrays),
        "state": {"t": s.state.t, "slots": _pack_state("state", s.state, arrays)},
        "progress": [s.progress.step, s.progress.epoch, s.progress.cursor],
        "edits": s.edits, "phase": s.phase, "status": s.status,
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "loss": _finite_or_none(s.loss), "title": s.title, "example": s.example,
        "playing": s.playing, "play_until": s.play_until, "series": [len(losses), len(tests)],
    }
    unique, meta["aliases"] = _deduplicate(arrays, by_content=False)
    core = _pack_blob(meta, unique, s.spec)
    return [core, data, undo, initial, *losses, *tests]


def unsaved(s: Session, parts: Sequence[bytes], base: int) -> list[bytes | None]:
    """Return what a save over the store's version `base` of the session writes: each part,
    or None where the store already holds that very part (`Session.stored`)."""
    if s.stored is None or s.stored[0] != base:
        return list(parts)
    held = s.stored[1]
    return [None if i < len(held) and part is held[i] else part
            for i, part in enumerate(parts)]


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
    return (np.ascontiguousarray(steps, dtype=_NATIVE_I8).tobytes()
            + np.ascontiguousarray(losses, dtype=_NATIVE_F8).tobytes())


def _unpack_series(chunks: Sequence[bytes]) -> tuple[Steps, Losses]:
    """Return the history that `_series` split into `chunks`."""
    if not chunks:
        return history.empty()
    steps, losses = [], []
    for chunk in chunks:
        n = len(chunk) // 16
        steps.append(np.frombuffer(chunk, dtype=_NATIVE_I8, count=n))
        losses.append(np.frombuffer(chunk, dtype=_NATIVE_F8, count=n, offset=8 * n))
    return (np.concatenate(steps).astype(np.int64, copy=False),
            np.concatenate(losses).astype(np.float64, copy=False))


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
    return _pack_blob({"initial": _pack_params("initial", s.initial, arrays)}, arrays)


def _pack_data(s: Session) -> bytes:
    arrays: dict[str, Array] = {"inputs": s.inputs, "targets": s.targets}
    meta = {"problem": _pack_problem("problem", s.problem, arrays)}
    unique, meta["aliases"] = _deduplicate(arrays)
    return _pack_blob(meta, unique)


def _pack_undo(s: Session) -> bytes:
    """Return the undo section: its header lists each snapshot's meta (names its arrays by
    content digest) and a pool of the distinct arrays; the payload is the pool's bytes.

    Every snapshot is encoded once (`_piece`), so pushing one onto a stack of fifty costs
    one encoding and a join, not fifty.
    """
    pool: dict[str, tuple[str, list[int], bytes]] = {}  # digest -> dtype, shape, bytes
    specs: dict[str, Any] = {}
    texts: dict[str, list[str]] = {"undo": [], "redo": []}
    for kind, stack in (("undo", s.undo), ("redo", s.redo)):
        for snap in stack:
            piece = _piece(snap)
            texts[kind].append(piece.meta)
            specs.setdefault(piece.spec_key, piece.spec)
            for key, entry in piece.arrays.items():
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


@dataclass(frozen=True)
class Piece:
    """A snapshot as the undo section stores it."""

    meta: str  # JSON: its scalars, and its arrays' names → content digests
    arrays: dict[str, tuple[str, list[int], bytes]]  # digest -> dtype, shape, bytes
    spec_key: str
    spec: dict[str, Any]


def _piece(snap: Snapshot) -> Piece:
    """Return the snapshot's piece of the undo section (encoded on first use)."""
    if snap.piece is not None:
        return snap.piece
    own: dict[str, Array] = {"inputs": snap.inputs, "targets": snap.targets}
    meta: dict[str, Any] = {
        "label": snap.label, "spec": _spec_key(snap.spec), "at": snap.at,
        "transitions": _pack_params("params", snap.parameters, own),
        "state": {"t": snap.state.t, "slots": _pack_state("state", snap.state, own)},
        "progress": [snap.progress.step, snap.progress.epoch, snap.progress.cursor],
        "history_len": snap.history_len, "status": snap.status,
        "loss": _finite_or_none(snap.loss),
        "problem": _pack_problem("problem", snap.problem, own),
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
    snap.piece = Piece(json.dumps(meta), arrays, meta["spec"], _spec_dict(snap.spec))
    return snap.piece


def _unpack_undo(section: bytes) -> tuple[list[Snapshot], list[Snapshot]]:
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
            _unpack_params("params", m["transitions"], z), _unpack_state("state", m["state"], z),
            Progress(*m["progress"]), m["history_len"], m["status"], m["loss"],
            _unpack_problem("problem", m.get("problem"), z), m.get("at", 0.0))

    return [snapshot(m) for m in meta["undo"]], [snapshot(m) for m in meta["redo"]]


@lru_cache(maxsize=512)
def _spec_key(spec: NetworkSpec) -> str:
    """Return a short key naming the spec in an undo section (a digest of its JSON)."""
    text = json.dumps(_spec_dict(spec), sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=8).hexdigest()


@lru_cache(maxsize=512)
def _spec_dict(spec: NetworkSpec) -> dict[str, Any]:
    """Return `spec_to_dict(spec)`, computed once per spec (specs are frozen; never mutate
    the returned dict)."""
    return spec_to_dict(spec)


def _pack_blob(meta: dict[str, Any], arrays: dict[str, NDArray[Any]],
               spec: NetworkSpec | None = None) -> bytes:
    """Return MAGIC, the header's length, the JSON header, then every array's raw bytes.

    Decoding is one JSON parse and a zero-copy view per array: with an undo stack of a
    few hundred arrays this is ~10× faster than an .npz archive, read on every request.
    With `spec`, the header's "spec" is that spec's JSON, encoded once per spec. The
    header is written by hand where that is exact and faster: the array table is encoded
    once per layout (`_table`), and a C-contiguous float64 array on a little-endian
    machine is already in the stored layout.
    """
    layout = []
    chunks = []
    for name, arr in arrays.items():
        if arr.dtype is _NATIVE_F8 and arr.flags.c_contiguous:
            raw, kind = arr.tobytes(), "<f8"
        else:
            data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
            raw, kind = data.tobytes(), data.dtype.str
        layout.append((name, kind, arr.shape, len(raw)))
        chunks.append(raw)
    parts = [json.dumps(meta)[1:-1]] if meta else []  # "key": value, … without braces
    if spec is not None:
        parts.append(f'"spec":{_spec_json(spec)}')
    parts.append(f'"arrays":{_table(tuple(layout))}')
    header = ("{" + ",".join(parts) + "}").encode()
    return b"".join([MAGIC, len(header).to_bytes(8, "little"), header, *chunks])


@lru_cache(maxsize=1024)
def _table(layout: tuple[tuple[str, str, tuple[int, ...], int], ...]) -> str:
    """Return the JSON table of a blob's arrays — name: [dtype, shape, offset, bytes] —
    for arrays laid out one after another (written once per layout: a training step's
    blobs all share one)."""
    entries = []
    offset = 0
    for name, kind, shape, size in layout:
        entries.append(f'{json.dumps(name)}:["{kind}",[{",".join(map(str, shape))}],'
                       f'{offset},{size}]')
        offset += size
    return "{" + ",".join(entries) + "}"


@lru_cache(maxsize=512)
def _spec_json(spec: NetworkSpec) -> str:
    """Return the spec's JSON, encoded once per spec (specs are frozen)."""
    return json.dumps(_spec_dict(spec))


def _unpack_blob(blob: bytes) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Return the header and the arrays of a `_pack_blob` blob (writable copies)."""
    if blob[:4] not in (MAGIC, MAGIC_V3):
        raise ValueError("not a session blob")
    size = int.from_bytes(blob[4:12], "little")
    meta = json.loads(blob[12 : 12 + size])
    payload = bytearray(blob[12 + size :])  # one copy: the views below are writable
    arrays = {
        name: np.frombuffer(payload, dtype=np.dtype(kind), count=math.prod(shape),
                            offset=offset).reshape(shape)
        for name, (kind, shape, offset, _) in meta.pop("arrays").items()
    }
    return meta, arrays


def _deduplicate(arrays: dict[str, Array], by_content: bool = True
                 ) -> tuple[dict[str, NDArray[Any]], dict[str, str]]:
    """Store equal arrays once; return the aliases.

    `by_content=False` merges only the very same array objects (no hashing: the part of
    the blob written on every save).
    """
    seen: dict[Any, str] = {}
    unique: dict[str, NDArray[Any]] = {}
    aliases: dict[str, str] = {}
    for name, arr in arrays.items():
        key: Any = (arr.shape, hashlib.blake2b(np.ascontiguousarray(arr).tobytes()).digest()
                    ) if by_content else id(arr)
        if key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            unique[name] = arr
    return unique, aliases


def _sections(blob: bytes) -> list[bytes]:
    """Return the sections of a format-4 blob — data, undo, core (a format-3 blob is one
    section)."""
    if blob[:4] == MAGIC_V3:
        return [blob]
    if blob[:4] != MAGIC:
        raise ValueError("not a session blob")
    count = int.from_bytes(blob[4:12], "little")
    lengths = [int.from_bytes(blob[12 + 8 * i : 20 + 8 * i], "little") for i in range(count)]
    offset = 12 + 8 * count
    parts = []
    for length in lengths:
        parts.append(blob[offset : offset + length])
        offset += length
    return parts


def loads(parts: Sequence[bytes]) -> Session:
    """Rebuild a session from `dumps` output (or from the one blob of formats 3 and 4)."""
    data_part: bytes | None = None  # the data and undo parts, when apart from the core
    undo_part: bytes | None = None
    if len(parts) == 1:  # formats 3 and 4: the history is among the core's arrays
        sections = _sections(parts[0])
        blobs = sections if len(sections) == 1 else [sections[0], sections[2]]
        if len(sections) == 3:
            data_part, undo_part = sections[0], sections[1]
    else:  # format 5: core, data, undo, initial, then the histories' chunks
        data_part, undo_part = parts[1], parts[2]
        blobs = [parts[1], parts[0], parts[3]]
    meta: dict[str, Any] = {}
    data: dict[str, NDArray[Any]] = {}
    aliases: dict[str, str] = {}
    if undo_part is not None:
        undo, redo = _unpack_undo(undo_part)
    for part in blobs:
        part_meta, part_data = _unpack_blob(part)
        aliases.update(part_meta.pop("aliases", {}))
        meta.update(part_meta)
        data.update(part_data)
    for name, target in aliases.items():
        data[name] = data[target].copy()
    if undo_part is None:  # format 3: the stacks' metas in the one header
        specs = [spec_from_dict(d) for d in meta["specs"]]
        undo = [_snapshot_from(m, data, specs) for m in meta["undo"]]
        redo = [_snapshot_from(m, data, specs) for m in meta["redo"]]
    div = meta["divergence"]
    chunks: tuple[Sequence[bytes], Sequence[bytes]] | None = None  # format 5's histories
    if "series" in meta:
        count = meta["series"][0]
        chunks = (parts[4 : 4 + count], parts[4 + count :])
        data["history_steps"], data["history_losses"] = _unpack_series(chunks[0])
        data["test_steps"], data["test_losses"] = _unpack_series(chunks[1])
    legacy_test = history.of(meta.get("test_steps", []), meta.get("test_losses", []))  # format 3
    session = Session(
        id=meta["id"], spec=spec_from_dict(meta["spec"]),
        inputs=data["inputs"], targets=data["targets"],
        parameters=_unpack_params("params", meta["transitions"], data),
        initial=_unpack_params("initial", meta["initial"], data),
        state=_unpack_state("state", meta["state"], data),
        created_at=meta["created_at"], updated_at=meta["updated_at"], version=meta["version"],
        progress=Progress(*meta["progress"]),
        history_steps=data["history_steps"], history_losses=data["history_losses"],
        edits=list(meta["edits"]), phase=meta["phase"], status=meta["status"],
        divergence=None if div is None else Divergence(**div), loss=meta["loss"],
        title=meta["title"], example=meta["example"], playing=meta.get("playing", False),
        play_until=meta.get("play_until"),
        problem=_unpack_problem("problem", meta.get("problem"), data),
        test_steps=data.get("test_steps", legacy_test[0]),
        test_losses=data.get("test_losses", legacy_test[1]),
        undo=undo, redo=redo,
    )
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
