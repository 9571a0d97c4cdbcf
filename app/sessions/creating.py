"""New sessions: from a named example, a generated dataset, given data or a CSV; copies of
a session (fork); sessions restored from an exported document.

Each function returns the new session, checked and with its loss and status computed,
ready for `SessionService` to store; nothing here touches a store.
"""

from __future__ import annotations

import binascii
import time
from typing import Any

from app.engine import examples
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.spec import NetworkSpec

from . import building, csvdata, documents, editing, reading
from .costs import Costs
from .errors import ServiceError
from .ids import new_id
from .model import Session


def new_session(body: dict[str, Any], caps: Costs) -> Session:
    """Return a session from a spec (and data), a dataset, a CSV or a named example."""
    now = time.time()
    if body.get("example") is not None:
        return _from_example(body, caps, now)
    if body.get("dataset") is not None:
        return _from_dataset(body, caps, now)
    if body.get("csv") is not None:
        body = _with_csv_data(body, caps)
    for name in ("layers", "inputs", "targets"):
        if body.get(name) is None:
            raise ServiceError(422, "missing", f"{name} is required (or give an example "
                               "or a dataset)", name)
    spec = building.build_spec(building.merge_spec(_blank(body["layers"]), body),
                               caps.settings)
    inputs, targets = building.build_data(spec, body["inputs"], body["targets"],
                                          caps.settings)
    params = initialize(spec)
    if body.get("parameters") is not None:
        params = building.explicit_parameters(spec, body["parameters"], params)
    s = Session(new_id(), spec, inputs, targets, params, params,
                new_state(spec.optimizer, flat(params)), now, now,
                title=body.get("title") or "")
    reading.refresh(s, caps)
    return s


def _from_example(body: dict[str, Any], caps: Costs, now: float) -> Session:
    """Return a named example's session, with the rest of the body applied to it."""
    example = body["example"]
    try:
        ex = examples.build(example)
    except Exception as err:
        raise ServiceError(422, "invalid", str(err).split(": ", 1)[-1], "example") from None
    s = Session(new_id(), ex.spec, ex.inputs, ex.targets, ex.parameters, ex.parameters,
                new_state(ex.spec.optimizer, flat(ex.parameters)), now, now,
                title=ex.title, example=example)
    rest = {k: v for k, v in body.items() if k != "example" and v is not None}
    if rest:
        editing.apply_changes(s, rest, caps, initial=True)
    s.initial = s.parameters
    reading.refresh(s, caps)
    return s


def _with_csv_data(body: dict[str, Any], caps: Costs) -> dict[str, Any]:
    """Return the body with a CSV's columns as its data, and layer sizes to fit them."""
    csv = body["csv"]
    table = csvdata.parse(csv.get("text", ""), csv.get("inputs") or [],
                          csv.get("targets") or [], caps.settings, "csv")
    layers = list(body.get("layers") or [0, 4, 0])
    layers[0], layers[-1] = len(table.input_names), len(table.target_names)
    return {**{k: v for k, v in body.items() if k != "csv"}, "layers": layers,
            "inputs": table.inputs, "targets": table.targets,
            "title": body.get("title") or "Uploaded data"}


def _from_dataset(body: dict[str, Any], caps: Costs, now: float) -> Session:
    """Return a session on a generated 2-D dataset (TensorFlow Playground's defaults)."""
    problem, x, y = building.build_problem(body["dataset"], caps.settings)
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
    spec = building.build_spec(building.merge_spec(_blank(layers), merged), caps.settings)
    inputs, targets = building.build_data(spec, x.tolist(), y.tolist(), caps.settings)
    params = initialize(spec)
    title = body.get("title") or f"{problem.recipe['name'].replace('_', ' ').capitalize()}"
    s = Session(new_id(), spec, inputs, targets, params, params,
                new_state(spec.optimizer, flat(params)), now, now, title=title,
                problem=problem)
    reading.refresh(s, caps)
    reading.record_test_loss(s)
    return s


def _blank(layers: Any) -> NetworkSpec:
    """Return a default spec to merge a create request into."""
    return NetworkSpec(tuple(layers) if isinstance(layers, list | tuple) else (1, 1))


def fork_copy(src: Session, changes: dict[str, Any] | None, caps: Costs) -> Session:
    """Return a copy of a session under a new id, with `changes` applied (`reinitialize`:
    fresh parameters, back to step 0; the test-loss history stays)."""
    now = time.time()
    copy = Session(new_id(), src.spec, src.inputs, src.targets,
                   src.parameters, src.initial, src.state.copy(), now, now,
                   progress=src.progress, history_steps=src.history_steps,
                   history_losses=src.history_losses, edits=list(src.edits),
                   status=src.status, divergence=src.divergence, loss=src.loss,
                   title=src.title, example=src.example, problem=src.problem,
                   test_steps=src.test_steps, test_losses=src.test_losses)
    if changes:
        reinit = changes.get("reinitialize", False)
        editing.apply_changes(copy, {k: v for k, v in changes.items() if k != "reinitialize"},
                              caps)
        if reinit:
            editing.draw_fresh(copy)
            reading.refresh(copy, caps)
    return copy


def restored(doc: dict[str, Any], caps: Costs) -> Session:
    """Return the session an exported document recreates, under a new id."""
    try:
        session = documents.restore(doc, new_id(), caps.settings)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            binascii.Error) as err:
        raise ServiceError(422, "invalid", f"not an exported session: {err}",
                           "document") from None
    session.loss = reading.loss_over_all(session)
    if session.status == "ok":
        reading.refresh(session, caps)  # an edited document may hold values that overflow
    return session
