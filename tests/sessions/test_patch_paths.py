"""A PATCH of one kind alone — `cells`, `data_cells` or `title` — takes that kind's fast
path in `editing.apply_changes`; any other PATCH takes the general path (`editing._rebuild`).
Both must leave a session exactly alike: what a client reads, what the page shows, what
undo and the store keep. Pinned here on two working copies of one stored session (as the
service's transaction makes them), and once through the service and its store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from app.engine.params import Parameters
from app.sessions import editing, reading
from app.sessions.cache import working_copy
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService
from app.sessions.storage.codec import dumps
from app.sessions.stores.memory import MemoryStore
from app.settings import Settings

# name -> (create body, training steps before the edit)
SESSIONS: dict[str, tuple[dict[str, Any], int]] = {
    "origin": ({"example": "origin"}, 2),  # sgd, every weight 1
    "circle": ({"dataset": {"name": "circle"},
                "optimizer": {"name": "adam", "learning_rate": 0.03}}, 3),
    "diverged": ({"example": "origin", "output_activation": "linear", "loss": "mse",
                  "optimizer": {"learning_rate": 1e6}}, 50),
}


def _cell(transition: int, kind: str, column: int, value: Any, row: int | None = None
          ) -> dict[str, Any]:
    return {"transition": transition, "kind": kind, "row": row, "column": column,
            "value": value}


def _data(kind: str, row: int, column: int, value: Any) -> dict[str, Any]:
    return {"kind": kind, "row": row, "column": column, "value": value}


# Each fits both shapes: origin 2-3-3-2 on 2 rows, circle 2-4-2-1 on 100 rows.
VALID: dict[str, dict[str, Any]] = {
    "one weight": {"cells": [_cell(0, "weights", 2, -0.75, row=1)]},
    "one bias": {"cells": [_cell(1, "biases", 1, 0.25)]},
    "several cells, one set twice": {"cells": [
        _cell(0, "weights", 0, 0.5, row=0), _cell(1, "biases", 0, -1.5),
        _cell(2, "weights", 0, 3.0, row=1), _cell(0, "weights", 0, -2.0, row=0)]},
    "a weight that overflows": {"cells": [_cell(2, "weights", 0, 1e300, row=0)]},
    "an infinite weight (the API refuses it)": {"cells": [
        _cell(0, "biases", 0, float("inf"))]},
    "one input": {"data_cells": [_data("inputs", 1, 0, 0.125)]},
    "one target": {"data_cells": [_data("targets", 1, 0, 0.0)]},
    "a cell set to what it holds": {"data_cells": [_data("inputs", 0, 1, 0.4)]},
    "inputs and targets, one set twice": {"data_cells": [
        _data("targets", 0, 0, 1.0), _data("inputs", 0, 0, -3), _data("inputs", 1, 1, 2.5),
        _data("inputs", 0, 0, 7.0)]},
    "a huge input": {"data_cells": [_data("inputs", 0, 0, 1e300)]},
    "a title": {"title": "Renamed"},
    "an empty title": {"title": ""},
    "a title at the length limit": {"title": "é" * 200},
    "a title that is not a string": {"title": 42},
    "no cells": {"cells": []},
    "no data cells": {"data_cells": []},
    "no title": {"title": None},
}

REFUSED: dict[str, dict[str, Any]] = {
    "transition out of range": {"cells": [_cell(3, "weights", 0, 1.0, row=0)]},
    "weight column out of range": {"cells": [_cell(0, "weights", 9, 1.0, row=0)]},
    "bias column out of range": {"cells": [_cell(2, "biases", 5, 1.0)]},
    "weight row out of range": {"cells": [_cell(1, "weights", 0, 1.0, row=9)]},
    "weight without a row": {"cells": [_cell(0, "weights", 0, 1.0)]},
    "a bad cell after a good one": {"cells": [_cell(0, "biases", 0, 2.0),
                                              _cell(0, "biases", 4, 2.0)]},
    "data row out of range": {"data_cells": [_data("inputs", 100, 0, 1.0)]},
    "data column out of range": {"data_cells": [_data("targets", 0, 5, 1.0)]},
    "a NaN input": {"data_cells": [_data("inputs", 0, 0, float("nan"))]},
    "an infinite target": {"data_cells": [_data("targets", 0, 0, float("inf"))]},
    "a negative infinite input": {"data_cells": [_data("inputs", 1, 1, float("-inf"))]},
    "a boolean value": {"data_cells": [_data("inputs", 0, 0, True)]},
    "a bad data cell after a good one": {"data_cells": [
        _data("inputs", 0, 0, 1.0), _data("targets", 1, 0, float("nan"))]},
}


def _service() -> SessionService:
    return SessionService(MemoryStore(), Settings(store="memory"))


def _create(service: SessionService, name: str) -> str:
    body, steps = SESSIONS[name]
    sid = service.create(body).id
    service.step(sid, steps)
    return sid


@pytest.fixture(scope="module")
def stored() -> tuple[SessionService, dict[str, str]]:
    """A service holding each session of SESSIONS, trained; tests change only copies."""
    service = _service()
    return service, {name: _create(service, name) for name in SESSIONS}


# ---------------------------------------------------------------------- comparing
def _same_array(a: NDArray[Any], b: NDArray[Any]) -> bool:
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _same_parameters(p: Parameters, q: Parameters) -> bool:
    return len(p) == len(q) and all(
        _same_array(s.weights, t.weights) and _same_array(s.biases, t.biases)
        for s, t in zip(p, q, strict=True))


def _same_number(x: float | None, y: float | None) -> bool:
    return x == y or (x is not None and y is not None and np.isnan(x) and np.isnan(y))


def _stored_bytes(s: Session) -> list[bytes]:
    """Every part the store would hold, encoded afresh (nothing reused from `packed`)."""
    copy = working_copy(s)
    copy.packed = {}
    return dumps(copy)


def _assert_same(a: Session, b: Session, settings: Settings) -> None:
    """Assert the two sessions show and store the same."""
    assert (a.loss, a.status, a.divergence) == (b.loss, b.status, b.divergence)
    assert (a.id, a.version, a.title, a.example, a.playing, a.play_until, a.created_at,
            a.updated_at) == (b.id, b.version, b.title, b.example, b.playing,
                              b.play_until, b.created_at, b.updated_at)
    assert a.spec == b.spec
    assert _same_array(a.inputs, b.inputs)
    assert _same_array(a.targets, b.targets)
    assert _same_parameters(a.parameters, b.parameters)
    assert _same_parameters(a.initial, b.initial)
    assert (a.state.t, a.state.slots.keys()) == (b.state.t, b.state.slots.keys())
    for slot, arrays in a.state.slots.items():
        assert len(arrays) == len(b.state.slots[slot])
        assert all(map(_same_array, arrays, b.state.slots[slot])), slot
    assert (a.progress, a.phase, a.edits) == (b.progress, b.phase, b.edits)
    assert _same_array(a.history_steps, b.history_steps)
    assert _same_array(a.history_losses, b.history_losses)
    assert reading.loss_history(a, settings) == reading.loss_history(b, settings)
    assert _same_array(a.test_steps, b.test_steps)
    assert _same_array(a.test_losses, b.test_losses)
    assert reading.held_out_history(a, settings) == reading.held_out_history(b, settings)
    assert _same_number(reading.test_loss(a), reading.test_loss(b))
    assert all(map(_same_number, reading.accuracies(a), reading.accuracies(b)))
    assert (a.problem is None) == (b.problem is None)
    if a.problem is not None and b.problem is not None:
        assert a.problem.recipe == b.problem.recipe  # with its "edited" mark, if any
        assert _same_array(a.problem.test_inputs, b.problem.test_inputs)
        assert _same_array(a.problem.test_targets, b.problem.test_targets)
    assert [u.label for u in a.undo] == [u.label for u in b.undo]
    assert _stored_bytes(a) == _stored_bytes(b)  # everything else the store keeps


# ---------------------------------------------------------------------- both paths
def _on_both_paths(service: SessionService, sid: str, change: dict[str, Any],
                   initial: bool = False) -> tuple[Session, Session]:
    """Apply `change` to two working copies of the stored session: by `apply_changes`
    (the fast path) and by `_rebuild`; return both copies, and check that neither path
    changed the stored session itself (its copies share its arrays)."""
    original = service.get(sid)
    before = _stored_bytes(original)
    fast, general = working_copy(original), working_copy(original)
    editing.apply_changes(fast, change, service.costs, initial)
    editing._rebuild(general, change, service.costs, initial)
    assert _stored_bytes(original) == before
    return fast, general


def _refusal(edit: Callable[[], None]) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        edit()
    return err.value


def test_the_sessions_are_what_the_cases_need(stored: tuple[SessionService, dict[str, str]]
                                              ) -> None:
    service, ids = stored
    origin, circle, diverged = (service.get(ids[n]) for n in SESSIONS)
    assert (origin.spec.optimizer.name, origin.status, origin.problem) == ("sgd", "ok", None)
    assert len(origin.history_steps) == 2
    assert (circle.spec.optimizer.name, circle.state.t) == ("adam", 3)
    assert circle.problem is not None
    assert len(circle.test_steps) >= 1
    assert None not in reading.accuracies(circle)
    assert (diverged.status, diverged.loss) == ("diverged", None)


@pytest.mark.parametrize("kind", list(editing.ONE_KIND))
def test_a_kind_alone_takes_its_fast_path(kind: str, monkeypatch: pytest.MonkeyPatch,
                                          stored: tuple[SessionService, dict[str, str]]
                                          ) -> None:
    service, ids = stored
    change = next(c for c in VALID.values() if list(c) == [kind] and c[kind])
    taken: list[str] = []
    monkeypatch.setitem(editing.ONE_KIND, kind, lambda s, v, caps, init: taken.append(kind))

    def no_rebuild(*args: Any) -> None:
        raise AssertionError("took the general path")

    monkeypatch.setattr(editing, "_rebuild", no_rebuild)
    editing.apply_changes(working_copy(service.get(ids["origin"])), change, service.costs)
    assert taken == [kind]


@pytest.mark.parametrize("change", VALID.values(), ids=list(VALID))
@pytest.mark.parametrize("name", list(SESSIONS))
def test_a_change_ends_alike_on_both_paths(name: str, change: dict[str, Any],
                                           stored: tuple[SessionService, dict[str, str]]
                                           ) -> None:
    service, ids = stored
    fast, general = _on_both_paths(service, ids[name], change)
    _assert_same(fast, general, service.settings)


@pytest.mark.parametrize("change", [c for c in VALID.values() if any(c.values())],
                         ids=[k for k, c in VALID.items() if any(c.values())])
def test_a_change_to_a_session_being_created_ends_alike(
        change: dict[str, Any], stored: tuple[SessionService, dict[str, str]]) -> None:
    service, ids = stored
    fast, general = _on_both_paths(service, ids["circle"], change, initial=True)
    _assert_same(fast, general, service.settings)


@pytest.mark.parametrize("change", REFUSED.values(), ids=list(REFUSED))
@pytest.mark.parametrize("name", list(SESSIONS))
def test_a_refused_change_is_refused_alike(name: str, change: dict[str, Any],
                                           stored: tuple[SessionService, dict[str, str]]
                                           ) -> None:
    service, ids = stored
    original = service.get(ids[name])
    before = _stored_bytes(original)
    fast = _refusal(lambda: editing.apply_changes(working_copy(original), change,
                                                  service.costs))
    general = _refusal(lambda: editing._rebuild(working_copy(original), change,
                                                service.costs, False))
    assert (fast.status, fast.code, fast.message, fast.field, fast.limit) == (
        general.status, general.code, general.message, general.field, general.limit)
    assert fast.status == 422
    assert fast.field is not None
    assert _stored_bytes(original) == before


# ---------------------------------------------------------------------- through the service
@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the wall clock: two services' saves then differ only in what they changed."""
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)


@pytest.mark.parametrize("change", [VALID["several cells, one set twice"],
                                    VALID["inputs and targets, one set twice"],
                                    VALID["a title"]], ids=["cells", "data_cells", "title"])
@pytest.mark.parametrize("name", ["origin", "circle"])
def test_a_patch_saves_the_same_on_both_paths(name: str, change: dict[str, Any],
                                              frozen_clock: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fast_service, general_service = _service(), _service()
    sid = _create(fast_service, name)
    general_service.store.create(sid, fast_service.store.load(sid) or [], 86_400.0, 10,
                                 fast_service.store.version(sid) or 0)
    fast = fast_service.patch(sid, change)
    monkeypatch.setattr(editing, "ONE_KIND", {})  # every PATCH takes the general path
    general = general_service.patch(sid, change)
    assert fast.version == general.version == 3  # created, trained, patched
    _assert_same(fast, general, fast_service.settings)
    assert fast_service.store.load(sid) == general_service.store.load(sid)
