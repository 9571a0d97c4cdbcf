"""The session service: the one place where sessions are created, edited and trained.

Both the JSON API and the HTML pages call this service; neither touches a store or the
engine's training loop directly. Every change runs as load → change → save under the
session's lock (`Store.lock`), which excludes other threads and other worker processes,
and bumps the session's version (the ETag; `If-Match` is checked against it).
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import anyio
import numpy as np
from numpy.typing import NDArray

from app.engine import examples
from app.engine.datasets import accuracy
from app.engine.diagnostics import (
    GradientCheck,
    LayerActivity,
    LayerGradient,
    LayerSymmetry,
    activity,
    find_nonfinite,
    gradient_check,
    gradient_norms,
    symmetry_groups,
)
from app.engine.initializers import initialize
from app.engine.optimizers import fit_state, new_state
from app.engine.params import Parameters, flat
from app.engine.phases import StepperView, view
from app.engine.spec import NetworkSpec, spec_to_dict
from app.engine.trace import Trace, evaluate, predict, trace
from app.engine.train import Progress, next_rows
from app.settings import Settings

from . import building, checking, costs, csvdata, documents, history, training
from .cache import SessionCache, working_copy
from .errors import ServiceError, StorageFull, StoreUnavailable, not_found, over_limit
from .model import Divergence, Problem, Session, Snapshot
from .storage.codec import dumps, loads, unsaved
from .stores import LockTimeout, Store, StoreFull
from .stores.base import InlineStore, MissingPart, ViewTokenTaken

log = logging.getLogger(__name__)
DERIVED_TRACES = 2  # traces remembered per session (the next batch, and row subsets)
DERIVED_FLOATS = 100_000  # a trace is remembered only when about this small (0.8 MB)
TRACE_FLOATS_PER_CELL = 8  # a trace's matrices per (row, neuron): z, a, ∂C/∂a, δ, …
ID_BYTES = 16  # 128 random bits
ID_LENGTH = 22  # base64url of 16 bytes, no padding
ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
SWEEP_EVERY = 200  # creations between sweeps of expired sessions
UNDO_CELLS = 2_000_000  # numbers kept across all undo snapshots of one session
COALESCE_SECONDS = 1.0  # training requests this close together share one undo entry
QUICK_MICROSECONDS = 1000  # a step estimated to train this long may run on the event loop
T = TypeVar("T")


@dataclass(frozen=True)
class DiagnosticsReport:
    """Every diagnostic of the session's current step."""

    gradient_check: GradientCheck
    symmetry: tuple[LayerSymmetry, ...]
    activity: tuple[LayerActivity, ...]
    gradients: tuple[LayerGradient, ...]
    trace: Trace  # the step they were taken from (its first rows, on a large batch)


@dataclass(frozen=True)
class StepOutcome:
    """What a step request did."""

    session: Session
    iterations_run: int
    truncated: bool


class _NotDue(Exception):
    """Raised inside a change that finds nothing to do: nothing is saved."""


def iteration_microseconds(s: Session) -> float:
    """Return an estimate of one training iteration's time on this session (measured:
    ~20 µs of Python, plus ~0.7 ns per observation × parameter)."""
    rows = int(min(s.inputs.shape[0], s.spec.batch_size or s.inputs.shape[0]))
    return 20.0 + rows * s.spec.parameter_count() / 1500


def quick(s: Session, iterations: int) -> bool:
    """Return whether `iterations` on this session train in about a millisecond or less,
    short enough to run on the event loop (the rest of a step costs ~0.2 ms either way)."""
    return (s.status == "diverged"
            or iterations * iteration_microseconds(s) <= QUICK_MICROSECONDS)


def train_label(iterations: int) -> str:
    """Return the undo label of a step request (requests within a second share one entry:
    `_before`)."""
    return f"train ×{iterations}"


def valid_id(session_id: str) -> bool:
    """Return True if the id has the shape of one this service makes."""
    return len(session_id) == ID_LENGTH and set(session_id) <= ID_CHARS


class SessionService:
    """Create, read, edit, train and delete sessions in a store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._created = 0
        self._cache = SessionCache(settings.session_cache_mb * 1024 * 1024)
        self.costs = costs.Costs(settings)  # what a read may compute and send
        self._warm = False  # a long step started the training pool's workers
        self._training = threading.BoundedSemaphore(settings.max_training)
        self._inline: InlineStore | None = (
            cast("InlineStore", store) if getattr(store, "inline", False) else None)

    # ------------------------------------------------------------------ lifecycle
    def create(self, body: dict[str, Any]) -> Session:
        """Create a session from a spec (and data), or from a named example."""
        session = self._new_session(body)
        self._insert(session)
        return session

    def _new_session(self, body: dict[str, Any]) -> Session:
        now = time.time()
        example = body.get("example")
        if example is not None:
            try:
                ex = examples.build(example)
            except Exception as err:
                raise ServiceError(422, "invalid", str(err).split(": ", 1)[-1],
                                   "example") from None
            base = Session(secrets.token_urlsafe(ID_BYTES), ex.spec, ex.inputs, ex.targets,
                           ex.parameters, ex.parameters,
                           new_state(ex.spec.optimizer, flat(ex.parameters)), now, now,
                           title=ex.title, example=example)
            rest = {k: v for k, v in body.items() if k != "example" and v is not None}
            if rest:
                self._apply_changes(base, rest, initial=True)
            base.initial = base.parameters
            self._refresh(base)
            return base
        if body.get("dataset") is not None:
            return self._new_dataset_session(body, now)
        if body.get("csv") is not None:
            table = csvdata.parse(body["csv"].get("text", ""), body["csv"].get("inputs") or [],
                                  body["csv"].get("targets") or [], self.settings, "csv")
            layers = list(body.get("layers") or [0, 4, 0])
            layers[0], layers[-1] = len(table.input_names), len(table.target_names)
            body = {**{k: v for k, v in body.items() if k != "csv"}, "layers": layers,
                    "inputs": table.inputs, "targets": table.targets,
                    "title": body.get("title") or "Uploaded data"}
        for name in ("layers", "inputs", "targets"):
            if body.get(name) is None:
                raise ServiceError(422, "missing", f"{name} is required (or give an example "
                                   "or a dataset)", name)
        spec = building.build_spec(building.merge_spec(_blank(body["layers"]), body),
                                   self.settings)
        inputs, targets = building.build_data(spec, body["inputs"], body["targets"],
                                              self.settings)
        params = initialize(spec)
        if body.get("parameters") is not None:
            params = building.explicit_parameters(spec, body["parameters"], params)
        s = Session(secrets.token_urlsafe(ID_BYTES), spec, inputs, targets, params, params,
                    new_state(spec.optimizer, flat(params)), now, now,
                    title=body.get("title") or "")
        self._refresh(s)
        return s

    def _new_dataset_session(self, body: dict[str, Any], now: float) -> Session:
        """Create a session on a generated 2-D dataset (TensorFlow Playground's defaults)."""
        problem, x, y = building.build_problem(body["dataset"], self.settings)
        layers = list(body.get("layers") or [x.shape[1], 4, 2, y.shape[1]])
        if not layers or not all(isinstance(v, int) for v in layers):
            raise ServiceError(422, "invalid", "must be a list of whole numbers", "layers")
        layers[0], layers[-1] = x.shape[1], y.shape[1]
        given = {k: v for k, v in body.items()  # batch_size None (full batch) is a choice
                 if (v is not None or k == "batch_size")
                 and k not in ("dataset", "inputs", "targets", "parameters")}
        merged = {"optimizer": {"name": "sgd", "learning_rate": 0.03}, "batch_size": 10,
                  **building.PROBLEM_DEFAULTS[building.problem_kind(problem)], **given,
                  "layers": layers}
        spec = building.build_spec(building.merge_spec(_blank(layers), merged), self.settings)
        inputs, targets = building.build_data(spec, x.tolist(), y.tolist(), self.settings)
        params = initialize(spec)
        title = body.get("title") or f"{problem.recipe['name'].replace('_', ' ').capitalize()}"
        s = Session(secrets.token_urlsafe(ID_BYTES), spec, inputs, targets, params, params,
                    new_state(spec.optimizer, flat(params)), now, now, title=title,
                    problem=problem)
        self._refresh(s)
        self._record_test_loss(s)
        return s

    def _record_test_loss(self, s: Session) -> None:
        """Append the loss over the held-out test data at the current step."""
        if s.problem is None:
            return
        value = evaluate(s.spec, s.parameters, s.problem.test_inputs, s.problem.test_targets)
        if math.isfinite(value):
            s.test_steps, s.test_losses = history.record(s.test_steps, s.test_losses,
                                                         s.progress.step, value)

    def accuracies(self, s: Session) -> tuple[float | None, float | None]:
        """Return (train, test) accuracy for a classification problem, else (None, None)."""
        if s.problem is None or s.problem.kind != "classification":
            return None, None
        threshold = 0.0 if s.spec.transition_activations[-1] == "tanh" else 0.5
        train = accuracy(predict(s.spec, s.parameters, s.inputs), s.targets, threshold)
        test = accuracy(predict(s.spec, s.parameters, s.problem.test_inputs),
                        s.problem.test_targets, threshold)
        return train, test

    def test_loss(self, s: Session) -> float | None:
        """Return the loss over the test data now (None without test data)."""
        if s.problem is None:
            return None
        value = evaluate(s.spec, s.parameters, s.problem.test_inputs, s.problem.test_targets)
        return value if math.isfinite(value) else None

    def _insert(self, session: Session) -> None:
        self._created += 1
        if self._created % SWEEP_EVERY == 0:
            self.store.sweep()
        try:
            parts = dumps(session)
            self.store.create(session.id, parts, self.settings.session_ttl_seconds,
                              self.settings.max_sessions, session.version)
            self._kept(session, parts)
            self._draw_view_token(session.id)
        except StoreFull:
            raise ServiceError(503, "store_full", "The playground holds as many sessions as "
                               "it can right now; please try again later.", None,
                               self.settings.max_sessions) from None

    def _draw_view_token(self, session_id: str) -> None:
        """Record a new session's view token beside it (`view_links`); a store that cannot
        take it now leaves it to the session's first read by id."""
        with contextlib.suppress(StorageFull, StoreUnavailable, LockTimeout, ViewTokenTaken):
            self.store.view_token(session_id, secrets.token_urlsafe(ID_BYTES))

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
        self._kept(session, parts)
        return session

    def _kept(self, session: Session, parts: Sequence[bytes]) -> None:
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

    # ------------------------------------------------------------------ changes
    def _mutate(self, session_id: str, change: Callable[[Session], Any],
                if_match: int | None = None, label: str | None = None) -> Session:
        """Run `change` on the session under its lock, then save it with a new version."""
        if not valid_id(session_id):
            raise not_found()
        try:
            with self.store.lock(session_id, self.settings.lock_timeout):
                session = self._open(session_id, if_match)
                before = self._before(session, label)
                change(session)
                parts, writes = self._seal(session, before)
                try:
                    self.store.save(session_id, writes, self.settings.session_ttl_seconds,
                                    session.version)
                except MissingPart:  # the store lost parts this process took as kept
                    self.store.save(session_id, parts, self.settings.session_ttl_seconds,
                                    session.version)
                self._kept(session, parts)
                return session
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
    def _before(session: Session, label: str | None) -> Snapshot | None:
        """Return the undo snapshot a change labelled `label` takes first (None when it
        joins the last one: play frames, and training requests within a second)."""
        coalesce = bool(label and session.undo and session.undo[-1].label == label
                        and (label == "play" or (label.startswith("train")
                             and time.time() - session.undo[-1].at < COALESCE_SECONDS)))
        return session.snapshot(label) if label and not coalesce else None

    def _seal(self, session: Session, before: Snapshot | None
              ) -> tuple[list[bytes], list[bytes | None]]:
        """Finish a change: push its undo snapshot, bump the version; return the session's
        parts and what saving them writes over the stored version (`unsaved`)."""
        if before is not None:
            self._push_undo(session, before)
        base = session.version
        session.version += 1
        session.updated_at = time.time()
        parts = dumps(session)
        return parts, unsaved(session, parts, base)

    def _busy(self) -> ServiceError:
        return ServiceError(503, "busy", "The session is busy; try again in a moment.",
                            None, self.settings.lock_timeout)

    def _push_undo(self, session: Session, snapshot: Snapshot) -> None:
        session.undo.append(snapshot)
        session.redo.clear()
        size = max(1, session.spec.parameter_count() + session.inputs.size
                   + session.targets.size)
        depth = min(self.settings.undo_depth, max(1, UNDO_CELLS // size))
        del session.undo[: max(0, len(session.undo) - depth)]

    def patch(self, session_id: str, changes: dict[str, Any],
              if_match: int | None = None) -> Session:
        """Edit the spec, data, hyper-parameters or parameters."""
        return self._mutate(session_id, lambda s: self._apply_changes(s, changes), if_match,
                            label=_describe(changes))

    def load_csv(self, session_id: str, text: str, inputs: list[str],
                 targets: list[str]) -> Session:
        """Replace the data with columns of a CSV; the layer sizes follow the columns."""
        table = csvdata.parse(text, inputs, targets, self.settings)

        def change(s: Session) -> None:
            layers = list(s.spec.layers)
            layers[0], layers[-1] = len(table.input_names), len(table.target_names)
            self._apply_changes(s, {"inputs": table.inputs, "targets": table.targets,
                                    "layers": layers, "uploaded": True})

        return self._mutate(session_id, change, label="upload CSV")

    def _apply_changes(self, s: Session, changes: dict[str, Any],
                       initial: bool = False) -> None:
        problem = None if changes.get("uploaded") else s.problem
        if changes.get("dataset") is not None:
            recipe = {**(s.problem.recipe if s.problem else {}), **changes["dataset"]}
            recipe.pop("edited", None)
            problem, x, y = building.build_problem(recipe, self.settings)
            layers = list(changes.get("layers") or s.spec.layers)
            layers[0], layers[-1] = x.shape[1], y.shape[1]
            changes = {**self._output_defaults(s, problem, changes), **changes,
                       "inputs": x.tolist(), "targets": y.tolist(), "layers": layers}
        if changes.get("data_cells"):  # arrays with the cells set, each value checked
            changes = {**changes, **building.set_data_cells(s.inputs, s.targets,
                                                            changes["data_cells"])}
        whole = [k for k in ("inputs", "targets")
                 if k in changes and not isinstance(changes[k], np.ndarray)]
        spec_changes = {k: changes[k] for k in building.SPEC_FIELDS if k in changes}
        spec = s.spec
        if spec_changes:
            spec = building.build_spec(building.merge_spec(s.spec, spec_changes), self.settings)
        inputs, targets = changes.get("inputs", s.inputs), changes.get("targets", s.targets)
        if whole or spec.layers != s.spec.layers:  # new rows or new widths: check it all
            inputs, targets = building.build_data(spec, _rows(inputs), _rows(targets),
                                                  self.settings)
        params = building.reshape_parameters(s.spec, spec, s.parameters)
        if spec.shapes() != s.spec.shapes():
            s.initial = initialize(spec)  # a fresh draw: what a recipe of this spec rebuilds
        if changes.get("parameters") is not None:
            params = building.explicit_parameters(spec, changes["parameters"], params)
        for i, cell in enumerate(changes.get("cells") or []):
            params = building.set_cell(spec, params, cell, f"cells[{i}]")
        if "title" in changes and changes["title"] is not None:
            s.title = str(changes["title"])
        structural = spec != s.spec or params is not s.parameters
        data_changed = inputs is not s.inputs or targets is not s.targets
        if spec.optimizer.name != s.spec.optimizer.name:
            s.state = new_state(spec.optimizer, flat(params))
        else:
            s.state = fit_state(spec.optimizer, s.state, flat(params))
        if data_changed and inputs.shape[0] != s.inputs.shape[0]:
            s.progress = Progress(s.progress.step, s.progress.epoch, 0)
        s.spec, s.inputs, s.targets, s.parameters = spec, inputs, targets, params
        if problem is not s.problem:
            s.problem = problem
            s.test_steps, s.test_losses = history.empty()
        if changes.get("dataset") is not None:
            self._restart(s)  # a new problem starts afresh, as in TensorFlow Playground
        elif data_changed and problem is not None and changes.get("dataset") is None:
            # hand edits: the recipe no longer recreates the data (a new Problem: the old
            # one is shared with the undo stack and with readers of the kept session)
            s.problem = replace(problem, recipe={**problem.recipe, "edited": True})
        if (structural or data_changed) and not initial and changes.get("dataset") is None:
            s.edits.append(s.progress.step)
            s.phase = 0
        self._refresh(s)
        if changes.get("dataset") is not None:
            self._record_test_loss(s)

    def _restart(self, s: Session) -> None:
        """Draw fresh initial parameters and go back to step 0 with no history."""
        s.parameters = s.initial = initialize(s.spec)
        s.state = new_state(s.spec.optimizer, flat(s.parameters))
        s.progress = Progress()
        s.history_steps, s.history_losses = history.empty()
        s.edits, s.phase = [], 0
        s.test_steps, s.test_losses = history.empty()

    def _output_defaults(self, s: Session, problem: Problem,
                         changes: dict[str, Any]) -> dict[str, Any]:
        """Return the output activation and loss a new kind of problem needs, unless chosen.

        Switching circle → plane must not keep a sigmoid and binary cross-entropy that the
        regression targets cannot meet; switching between two binary sets keeps them.
        """
        kind = building.problem_kind(problem)
        if s.problem is not None and building.problem_kind(s.problem) == kind:
            return {}
        if "loss" in changes or "output_activation" in changes or "activations" in changes:
            return {}
        wanted = building.PROBLEM_DEFAULTS[kind]
        out: dict[str, Any] = {"loss": wanted["loss"]}
        if s.spec.activations is None:
            out["output_activation"] = wanted["output_activation"]
        else:
            out["activations"] = [*s.spec.activations[:-1], wanted["output_activation"]]
        return out

    def _refresh(self, s: Session) -> None:
        """Recompute the loss and the status: diverged if any value of a step is not finite.

        An edit can cure a divergence (smaller weights) or cause one (inputs so large that
        z overflows); either way the status says what the next step would meet.
        """
        tr = self.trace_of(s)
        # A full-batch trace already has the loss over all the data; a batch's has not.
        value = tr.loss if tr.rows is None else evaluate(s.spec, s.parameters, s.inputs,
                                                            s.targets)
        s.loss = value if math.isfinite(value) else None
        where = find_nonfinite(tr)
        if where is None:
            s.status, s.divergence = "ok", None
        else:
            s.status = "diverged"
            s.divergence = Divergence(s.progress.step, where.layer, where.quantity)

    def _loss(self, s: Session) -> float | None:
        value = evaluate(s.spec, s.parameters, s.inputs, s.targets)
        return value if math.isfinite(value) else None

    def reinitialize(self, session_id: str, init: dict[str, Any] | None,
                     if_match: int | None = None) -> Session:
        """Draw new parameters (optionally with a new init scheme/seed); back to step 0."""
        def change(s: Session) -> None:
            if init:
                s.spec = building.build_spec(building.merge_spec(s.spec, {"init": init}),
                                             self.settings)
            self._restart(s)
            self._refresh(s)
            self._record_test_loss(s)

        return self._mutate(session_id, change, if_match, label="re-initialise")

    def reset(self, session_id: str, if_match: int | None = None) -> Session:
        """Go back to the initial parameters and step 0."""
        def change(s: Session) -> None:
            initial = s.initial
            self._restart(s)
            s.parameters = s.initial = initial
            s.state = new_state(s.spec.optimizer, flat(s.parameters))
            self._refresh(s)
            self._record_test_loss(s)

        return self._mutate(session_id, change, if_match, label="reset")

    def undo(self, session_id: str) -> Session:
        """Undo the last edit or training run."""
        return self._mutate(session_id, lambda s: self._travel(s, s.undo, s.redo))

    def redo(self, session_id: str) -> Session:
        """Redo what undo took back."""
        return self._mutate(session_id, lambda s: self._travel(s, s.redo, s.undo))

    def _travel(self, s: Session, source: list[Snapshot], target: list[Snapshot]) -> None:
        if not source:
            raise ServiceError(409, "nothing_to_undo", "There is nothing to "
                               f"{'undo' if source is s.undo else 'redo'}.")
        snap = source.pop()
        target.append(s.snapshot(snap.label))
        s.spec, s.inputs, s.targets = snap.spec, snap.inputs, snap.targets
        s.parameters, s.state, s.progress = snap.parameters, snap.state, snap.progress
        s.history_steps = s.history_steps[: snap.history_len]
        s.history_losses = s.history_losses[: snap.history_len]
        s.status, s.loss, s.phase = snap.status, snap.loss, 0
        s.problem = snap.problem
        if s.status == "ok":
            s.divergence = None
        if [t.weights.shape for t in s.initial] != list(s.spec.shapes()):
            s.initial = initialize(s.spec)  # as an edit of the sizes draws them (a recipe's)

    # ------------------------------------------------------------------ training
    def check_iterations(self, s: Session, iterations: int) -> None:
        """Refuse a step over the iteration limit or the compute budget."""
        st = self.settings
        if iterations > st.max_iterations:
            raise over_limit("iterations", f"at most {st.max_iterations:,} per request",
                             st.max_iterations)
        rows = min(s.inputs.shape[0], s.spec.batch_size or s.inputs.shape[0])
        cost_per = rows * s.spec.parameter_count()
        allowed = int(st.compute_budget // cost_per)
        if iterations > allowed:
            raise over_limit("iterations", f"this network allows at most {allowed:,} "
                             f"iterations per request (compute budget {st.compute_budget:.3g}"
                             " = iterations × observations × parameters)", allowed)

    def step(self, session_id: str, iterations: int, if_match: int | None = None) -> StepOutcome:
        """Train `iterations` updates, within the per-request time budget."""
        return self._step(session_id, iterations, if_match,
                          time.monotonic() + self.settings.step_time_budget,
                          train_label(iterations))

    def allowed_iterations(self, s: Session) -> int:
        """Return the most iterations one request may ask for on this session."""
        rows = min(s.inputs.shape[0], s.spec.batch_size or s.inputs.shape[0])
        cost = rows * s.spec.parameter_count()
        return max(1, min(self.settings.max_iterations, int(self.settings.compute_budget // cost)))

    def play_frame(self, session_id: str, seconds: Callable[[Session], float],
                   gap: float) -> StepOutcome | None:
        """Train one frame of play (`seconds(session)` of compute, decided on the session
        as it is under the lock) when the session plays and was last saved at least `gap`
        seconds ago; None (nothing saved) otherwise.

        Every tab's stream on every worker calls this at its own pace; the gap keeps the
        session to one frame per gap however many tabs watch it, and it stops as soon as
        the last tab is gone. Play stops by itself on divergence, and once every
        output is within `play_until` of its target when that is set.
        """
        result: dict[str, Any] = {"run": 0, "truncated": False}
        try:
            session = self._mutate(session_id,
                                   lambda s: self._play_change(s, seconds, gap, result),
                                   label="play")
        except _NotDue:
            return None
        return StepOutcome(session, result["run"], result["truncated"])

    def _play_change(self, s: Session, seconds: Callable[[Session], float], gap: float,
                     result: dict[str, Any]) -> None:
        """Train one frame of play, or raise _NotDue (the caller holds the lock)."""
        if not s.playing or s.status == "diverged" or time.time() - s.updated_at < gap:
            raise _NotDue
        budget = seconds(s)  # as many iterations as fit (the trainer checks its clock
        # every 16, so a small budget is held to by the count)
        count = max(1, int(budget * 1e6 / iteration_microseconds(s)))
        self._train(s, min(self.allowed_iterations(s), count), result, budget)
        if s.status == "diverged" or (s.play_until is not None
                                      and self.misfit(s) <= s.play_until):
            s.playing, s.play_until = False, None

    async def play_frame_async(self, session_id: str, seconds: Callable[[Session], float],
                               gap: float) -> StepOutcome | None:
        """`play_frame` for the event loop: a frame that trains under a millisecond (its
        budget, and its one iteration at least), on a store that allows it, runs on the
        loop from lock to commit (`_train_async`); anything else runs `play_frame` in a
        thread."""
        try:
            return await self._train_async(
                session_id, None, "play",
                lambda s: seconds(s) <= QUICK_MICROSECONDS / 1e6 and quick(s, 1),
                lambda s, result: self._play_change(s, seconds, gap, result),
                lambda: self.play_frame(session_id, seconds, gap))
        except _NotDue:
            return None

    async def _train_async(self, session_id: str, if_match: int | None, label: str,
                           on_loop: Callable[[Session], bool],
                           change: Callable[[Session, dict[str, Any]], None],
                           in_thread: Callable[[], T]) -> StepOutcome | T:
        """Train a session on the event loop from lock to commit when the store allows it
        (`Store.inline`) and `on_loop(session)` holds: no thread hop, no thread switch while
        it waits for the fsync. Otherwise run `in_thread()` in a worker thread."""
        store = self._inline
        kept = self._cache.peek(session_id) if store is not None else None
        if store is None or kept is None or not on_loop(kept):
            return await anyio.to_thread.run_sync(in_thread)
        result: dict[str, Any] = {"run": 0, "truncated": False}
        try:
            async with store.lock_async(session_id, self.settings.lock_timeout):
                session = self._open(session_id, if_match)
                before = self._before(session, label)
                if on_loop(session):
                    change(session, result)
                else:  # changed by another process meanwhile: too long for the loop
                    await anyio.to_thread.run_sync(change, session, result)
                await self._save_async(store, session_id, session, before)
        except LockTimeout:
            raise self._busy() from None
        return StepOutcome(session, result["run"], result["truncated"])

    async def _save_async(self, store: InlineStore, session_id: str, session: Session,
                          before: Snapshot | None) -> None:
        """Seal and save a changed session on the loop (the caller holds the lock)."""
        parts, writes = self._seal(session, before)
        with anyio.CancelScope(shield=True):  # the lock holds until it is on disk
            try:
                await store.save_async(session_id, writes, self.settings.session_ttl_seconds,
                                       session.version)
            except MissingPart:  # the store lost parts this process took as kept
                await store.save_async(session_id, parts, self.settings.session_ttl_seconds,
                                       session.version)
        self._kept(session, parts)

    def set_playing(self, session_id: str, playing: bool,
                    until: float | None = None) -> Session:
        """Mark the session playing (until every output is within `until` of its target,
        when given) or paused."""
        def change(s: Session) -> None:
            if playing and s.status == "diverged":
                raise ServiceError(409, "diverged", "Training diverged: reset, re-initialise "
                                   "or edit the network before playing again.", "play")
            s.playing, s.play_until = playing, until if playing else None

        return self._mutate(session_id, change)

    def release_play(self, session_id: str, idle: float) -> Session:
        """Pause a session marked playing whose frames stopped `idle` seconds ago (every
        tab that drove it has gone); return the session as it is."""
        s = self.get(session_id)
        if not s.playing or time.time() - s.updated_at <= idle:
            return s

        def change(current: Session) -> None:
            if not current.playing or time.time() - current.updated_at <= idle:
                raise _NotDue
            current.playing, current.play_until = False, None

        try:
            return self._mutate(session_id, change)
        except _NotDue:
            return self.get(session_id)

    def misfit(self, s: Session, outputs: NDArray[np.float64] | None = None) -> float:
        """Return the largest |output − target| over every observation (∞ if not finite);
        `outputs`, when given, are the network's outputs for every observation."""
        if outputs is None:
            outputs = predict(s.spec, s.parameters, s.inputs)
        gap = float(np.max(np.abs(outputs - s.targets)))
        return gap if math.isfinite(gap) else math.inf

    def _step(self, session_id: str, iterations: int, if_match: int | None, deadline: float,
              label: str) -> StepOutcome:
        result: dict[str, Any] = {"run": 0, "truncated": False}
        session = self._mutate(
            session_id, lambda s: self._step_change(s, iterations, result, deadline),
            if_match, label=label)
        return StepOutcome(session, result["run"], result["truncated"])

    def _step_change(self, s: Session, iterations: int, result: dict[str, Any],
                     deadline: float) -> None:
        """Train the session (under its lock) until `deadline` (`time.monotonic`, the
        request's end less what it does after training): inline, or in a worker process
        when long."""
        self.check_iterations(s, iterations)
        if s.status == "diverged":
            return  # training stays stopped until an edit, reset or re-initialise
        long = iterations * s.inputs.shape[0] * s.spec.parameter_count() > 5e6
        if long and not self._training.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ServiceError(503, "busy", "Too many sessions are training right now; "
                               "try again in a moment.", None, self.settings.max_training)
        try:
            if long and not self._warm:  # the pool's first worker starts on the clock too
                training.train(s.spec, s.inputs[:1], s.targets[:1], s.parameters, s.state,
                               s.progress, 0, 0.0, True, self.settings.max_training)
                self._warm = True
            seconds = costs.training_seconds(deadline, self.settings.step_time_budget,
                                             iteration_microseconds(s) / 1e6)
            if seconds is None:  # the budget went on waiting: nothing trained, and it says so
                result["truncated"] = True
                return
            self._train(s, iterations, result, seconds, offload=long)
        finally:
            if long:
                self._training.release()

    async def step_async(self, session_id: str, iterations: int,
                         if_match: int | None = None) -> StepOutcome:
        """`step` for the event loop: a quick step (`quick`) runs on the loop from lock to
        commit (`_train_async`); anything else runs `step` in a thread."""
        deadline = time.monotonic() + self.settings.step_time_budget
        return await self._train_async(
            session_id, if_match, train_label(iterations), lambda s: quick(s, iterations),
            lambda s, result: self._step_change(s, iterations, result, deadline),
            lambda: self._step(session_id, iterations, if_match, deadline,
                               train_label(iterations)))

    def _train(self, s: Session, iterations: int, result: dict[str, Any],
               budget: float | None = None, offload: bool = False) -> None:
        run = training.train(s.spec, s.inputs, s.targets, s.parameters, s.state, s.progress,
                             iterations, self.settings.step_time_budget if budget is None
                             else budget, offload,
                             self.settings.max_training)
        s.parameters, s.state, s.progress = run.parameters, run.state, run.progress
        s.history_steps, s.history_losses = history.append(
            s.history_steps, s.history_losses, run.history_steps, run.history_losses)
        s.loss = run.loss if math.isfinite(run.loss) else None
        s.phase = 0
        self._record_test_loss(s)
        if run.diverged_at is not None:
            where = find_nonfinite(self.trace_of(s))
            s.status = "diverged"
            s.divergence = Divergence(run.diverged_at, where.layer if where else None,
                                      where.quantity if where else "loss")
        result["run"], result["truncated"] = run.iterations_run, run.truncated

    # ------------------------------------------------------------------ reading
    def trace_of(self, s: Session, observations: list[int] | None = None) -> Trace:
        """Return the step the current parameters would take (on the next batch): over its
        first `Costs.trace_rows` observations when the batch has more (`Trace.batch`)."""
        n = s.inputs.shape[0]
        if observations is not None:
            bad = [i for i in observations if not 0 <= i < n]
            if bad or not observations:
                raise ServiceError(422, "invalid", f"observations must be indices 0…{n - 1}",
                                   "observations", n - 1)
            self.costs.check_observations(s.spec, len(observations))
            chosen: NDArray[np.intp] | None = np.asarray(observations, dtype=np.intp)
            shown = None
        else:
            chosen, shown = self.costs.sample(s.spec, next_rows(s.spec, n, s.progress), n)
        # Remembered on the session, by the very objects it was computed from (replaced,
        # never changed, by every edit and step): an edit's refresh, the page it renders,
        # its diagnostics and a GET of the trace share one computation.
        sources = (s.spec, s.parameters, s.inputs, s.targets, s.state, s.progress)
        slot = None if observations is None else tuple(observations)
        kept = s.derived.get(slot)
        if kept is not None and all(a is b for a, b in zip(kept[0], sources, strict=True)):
            remembered: Trace = kept[1]
            return remembered
        tr = trace(s.spec, s.parameters, s.inputs, s.targets, s.state, chosen)
        if shown is not None and shown.partial:
            tr = replace(tr, batch=shown.total)
        rows = n if chosen is None else len(chosen)
        if rows * sum(s.spec.layers) * TRACE_FLOATS_PER_CELL <= DERIVED_FLOATS:
            if len(s.derived) >= DERIVED_TRACES:
                s.derived.clear()
            s.derived[slot] = (sources, tr)
        return tr

    def phase_view(self, s: Session) -> StepperView:
        """Return the phase stepper at the session's position."""
        return view(self.trace_of(s), s.phase)

    def advance_phase(self, session_id: str, action: str) -> tuple[Session, StepperView]:
        """Advance one phase (`next`), go back to the start (`restart`), or finish (`apply`).

        Advancing past the last phase applies the update: one training step, exactly as
        Step takes it. The parameters then equal the trace's new parameters unless the
        trace is sampled (a batch too large for it: `Trace.batch`): the step uses every
        row of the batch, the trace its first rows, and the page and JSON say so.
        """
        holder: dict[str, StepperView] = {}

        def change(s: Session) -> None:
            tr = self.trace_of(s)
            total = len(view(tr, 0).phases)
            if action == "restart":
                s.phase = 0
            elif action == "next" and s.phase < total:
                s.phase += 1
            elif action in ("next", "apply"):
                outcome: dict[str, Any] = {}
                self._train(s, 1, outcome)
                tr = self.trace_of(s)
            holder["view"] = view(tr, s.phase)

        session = self._mutate(session_id, change)
        return session, holder["view"]

    def history(self, s: Session, max_points: int | None = None) -> tuple[list[int],
                                                                           list[float]]:
        """Return the loss history decimated to at most `max_points` points."""
        limit = min(max_points or self.settings.history_points, self.settings.history_points)
        return history.decimate(s.history_steps, s.history_losses, limit)

    def test_history(self, s: Session, max_points: int | None = None) -> tuple[list[int],
                                                                                list[float]]:
        """Return the test-loss history decimated like `history`."""
        limit = min(max_points or self.settings.history_points, self.settings.history_points)
        return history.decimate(s.test_steps, s.test_losses, limit)

    # ------------------------------------------------------------------ copies
    def fork(self, session_id: str, changes: dict[str, Any] | None) -> Session:
        """Copy a session (optionally changed) into a new one."""
        src = self.get(session_id)
        now = time.time()
        copy = Session(secrets.token_urlsafe(ID_BYTES), src.spec, src.inputs, src.targets,
                       src.parameters, src.initial, src.state.copy(), now, now,
                       progress=src.progress, history_steps=src.history_steps,
                       history_losses=src.history_losses, edits=list(src.edits),
                       status=src.status, divergence=src.divergence, loss=src.loss,
                       title=src.title, example=src.example, problem=src.problem,
                       test_steps=src.test_steps, test_losses=src.test_losses)
        if changes:
            reinit = changes.get("reinitialize", False)
            rest = {k: v for k, v in changes.items() if k != "reinitialize"}
            self._apply_changes(copy, rest)
            if reinit:
                copy.parameters = copy.initial = initialize(copy.spec)
                copy.state = new_state(copy.spec.optimizer, flat(copy.parameters))
                copy.progress = Progress()
                copy.history_steps, copy.history_losses = history.empty()
                copy.edits = []
                self._refresh(copy)
        self._insert(copy)
        return copy

    def export(self, s: Session) -> dict[str, Any]:
        """Return the JSON document that recreates the session exactly."""
        return documents.export(s)

    def import_document(self, doc: dict[str, Any]) -> Session:
        """Create a session from an exported document."""
        try:
            session = documents.restore(doc, secrets.token_urlsafe(ID_BYTES), self.settings)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                binascii.Error) as err:
            raise ServiceError(422, "invalid", f"not an exported session: {err}",
                               "document") from None
        session.loss = self._loss(session)
        if session.status == "ok":
            self._refresh(session)  # an edited document may hold values that overflow
        self._insert(session)
        return session

    def diagnostics(self, s: Session) -> DiagnosticsReport:
        """Return the gradient check, symmetry groups, activity and gradient sizes."""
        tr = self.trace_of(s)
        x = s.inputs if tr.rows is None else s.inputs[tr.rows]
        y = s.targets if tr.rows is None else s.targets[tr.rows]
        check = gradient_check(s.spec, s.parameters, x, y, tr,
                               max_parameters=self.costs.gradcheck_parameters(),
                               max_macs=costs.GRADCHECK_MACS, seed=costs.GRADCHECK_SEED)
        return DiagnosticsReport(check, symmetry_groups(s.spec, s.parameters), activity(tr),
                                 gradient_norms(tr), tr)

    def check(self, s: Session, quantity: str, layer: int, values: Any,
              tolerance: float | None = None) -> checking.CheckResult:
        """Check a learner's hand-computed matrix against the current step."""
        tol = checking.DEFAULT_TOLERANCE if tolerance is None else tolerance
        return checking.check(s.spec, self.trace_of(s), quantity, layer, values, tol)

    def spec_dict(self, s: Session) -> dict[str, Any]:
        """Return the session's spec with its data, as the API shows it."""
        return {**spec_to_dict(s.spec), "inputs": s.inputs.tolist(),
                "targets": s.targets.tolist()}

    def params_list(self, params: Parameters) -> list[dict[str, Any]]:
        """Return parameters as JSON-ready lists."""
        return [{"weights": t.weights.tolist(), "biases": t.biases.tolist()} for t in params]


def _blank(layers: Any) -> NetworkSpec:
    """Return a default spec to merge a create request into."""
    return NetworkSpec(tuple(layers) if isinstance(layers, list | tuple) else (1, 1))


def _rows(data: Any) -> Any:
    """Return data as nested lists (what `building.build_data` checks)."""
    return data.tolist() if isinstance(data, np.ndarray) else data


def _describe(changes: dict[str, Any]) -> str:
    """Return an undo label for a change set."""
    keys = [k for k in changes if changes[k] is not None]
    return "edit " + ", ".join(keys) if keys else "edit"
