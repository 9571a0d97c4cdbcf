"""Editing a session: each kind of PATCH, re-initialise, reset, undo and redo.

Each function changes a session the caller holds the lock of (`SessionService`'s
transaction saves it and takes its undo snapshot). A PATCH of one kind alone — weight
cells, data cells, a title — is applied by that kind's own function, which checks only
the values it sets; any other PATCH (the spec, hyper-parameters, whole data or matrices,
a new dataset, or several kinds at once) is rebuilt and checked as a whole. Either way
the session ends with its loss and status recomputed (`reading.refresh`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.initializers import initialize
from app.engine.optimizers import fit_state, new_state
from app.engine.params import Parameters, flat
from app.engine.spec import NetworkSpec
from app.engine.train import Progress
from app.settings import Settings

from . import building, history, reading
from .costs import Costs
from .csvdata import Table
from .errors import ServiceError
from .model import Problem, Session, Snapshot

Array = NDArray[np.float64]


def describe(changes: dict[str, Any]) -> str:
    """Return the undo label of a change set."""
    keys = [k for k in changes if changes[k] is not None]
    return "edit " + ", ".join(keys) if keys else "edit"


# ---------------------------------------------------------------------- one kind alone
def _mark_edited(s: Session, initial: bool) -> None:
    """Record an edit at the current step (not while a session is being created)."""
    if not initial:
        s.edits.append(s.progress.step)
        s.phase = 0


def _mark_recipe_edited(s: Session) -> None:
    """Say the problem's recipe no longer recreates the data (a new Problem: the old one
    is shared with the undo stack and with readers of the kept session)."""
    if s.problem is not None:
        s.problem = replace(s.problem, recipe={**s.problem.recipe, "edited": True})


def _with_cells(spec: NetworkSpec, params: Parameters, cells: list[dict[str, Any]]
                ) -> Parameters:
    for i, cell in enumerate(cells):
        params = building.set_cell(spec, params, cell, f"cells[{i}]")
    return params


def set_parameter_cells(s: Session, cells: list[dict[str, Any]], caps: Costs,
                        initial: bool) -> None:
    """Set single weights or biases (each checked for its place)."""
    s.parameters = _with_cells(s.spec, s.parameters, cells)
    _mark_edited(s, initial)
    reading.refresh(s, caps)


def set_data_cells(s: Session, cells: list[dict[str, Any]], caps: Costs,
                   initial: bool) -> None:
    """Set single input or target values (only the new values are checked)."""
    edited = building.set_data_cells(s.inputs, s.targets, cells)
    s.inputs = edited.get("inputs", s.inputs)
    s.targets = edited.get("targets", s.targets)
    _mark_recipe_edited(s)
    _mark_edited(s, initial)
    reading.refresh(s, caps)


def set_title(s: Session, title: Any, caps: Costs, initial: bool) -> None:
    """Rename the session."""
    s.title = str(title)
    reading.refresh(s, caps)


ONE_KIND: dict[str, Callable[[Session, Any, Costs, bool], None]] = {
    "cells": set_parameter_cells,
    "data_cells": set_data_cells,
    "title": set_title,
}


def apply_changes(s: Session, changes: dict[str, Any], caps: Costs,
                  initial: bool = False) -> None:
    """Apply a PATCH (`initial`: to a session being created, which records no edit)."""
    if len(changes) == 1:
        kind, value = next(iter(changes.items()))
        if kind in ONE_KIND and value is not None and value != []:
            ONE_KIND[kind](s, value, caps, initial)
            return
    _rebuild(s, changes, caps, initial)


def replace_data(s: Session, table: Table, caps: Costs) -> None:
    """Replace the data with a CSV's columns; the layer sizes follow the columns."""
    layers = list(s.spec.layers)
    layers[0], layers[-1] = len(table.input_names), len(table.target_names)
    _rebuild(s, {"inputs": table.inputs, "targets": table.targets, "layers": layers,
                 "uploaded": True}, caps, False)


# ---------------------------------------------------------------------- anything else
def _rebuild(s: Session, changes: dict[str, Any], caps: Costs, initial: bool) -> None:
    """Apply any PATCH: rebuild and check the spec, data and parameters it changes."""
    settings = caps.settings
    new_problem = changes.get("dataset") is not None
    problem = None if changes.get("uploaded") else s.problem
    if new_problem:
        problem, changes = _generated_data(s, changes, settings)
    if changes.get("data_cells"):  # arrays with the cells set, each value checked
        changes = {**changes, **building.set_data_cells(s.inputs, s.targets,
                                                        changes["data_cells"])}
    spec = _rebuilt_spec(s, changes, settings)
    inputs, targets = _rebuilt_data(s, spec, changes, settings)
    params = _rebuilt_parameters(s, spec, changes)
    if changes.get("title") is not None:
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
    if new_problem:
        restart(s)  # a new problem starts afresh, as in TensorFlow Playground
    elif data_changed:
        _mark_recipe_edited(s)  # hand edits: the recipe no longer recreates the data
    if structural or data_changed:
        _mark_edited(s, initial or new_problem)
    reading.refresh(s, caps)
    if new_problem:
        reading.record_test_loss(s)


def _generated_data(s: Session, changes: dict[str, Any], settings: Settings
                    ) -> tuple[Problem, dict[str, Any]]:
    """Return a new dataset's problem, and the changes with its data and layer sizes."""
    recipe = {**(s.problem.recipe if s.problem else {}), **changes["dataset"]}
    recipe.pop("edited", None)
    problem, x, y = building.build_problem(recipe, settings)
    layers = list(changes.get("layers") or s.spec.layers)
    layers[0], layers[-1] = x.shape[1], y.shape[1]
    return problem, {**output_defaults(s, problem, changes), **changes,
                     "inputs": x.tolist(), "targets": y.tolist(), "layers": layers}


def _rebuilt_spec(s: Session, changes: dict[str, Any], settings: Settings) -> NetworkSpec:
    """Return the spec with the changes' spec fields merged in and checked."""
    spec_changes = {k: changes[k] for k in building.SPEC_FIELDS if k in changes}
    if not spec_changes:
        return s.spec
    return building.build_spec(building.merge_spec(s.spec, spec_changes), settings)


def _rebuilt_data(s: Session, spec: NetworkSpec, changes: dict[str, Any],
                  settings: Settings) -> tuple[Array, Array]:
    """Return (inputs, targets) as changed: all checked again when whole new data came,
    or when the layer sizes changed."""
    whole = [k for k in ("inputs", "targets")
             if k in changes and not isinstance(changes[k], np.ndarray)]
    inputs, targets = changes.get("inputs", s.inputs), changes.get("targets", s.targets)
    if whole or spec.layers != s.spec.layers:  # new rows or new widths: check it all
        inputs, targets = building.build_data(spec, _rows(inputs), _rows(targets), settings)
    return inputs, targets


def _rebuilt_parameters(s: Session, spec: NetworkSpec, changes: dict[str, Any]
                        ) -> Parameters:
    """Return the parameters fitted to the new spec, with given matrices and cells set;
    a new shape also draws new initial parameters (what a recipe of this spec rebuilds)."""
    params = building.reshape_parameters(s.spec, spec, s.parameters)
    if spec.shapes() != s.spec.shapes():
        s.initial = initialize(spec)
    if changes.get("parameters") is not None:
        params = building.explicit_parameters(spec, changes["parameters"], params)
    return _with_cells(spec, params, changes.get("cells") or [])


def output_defaults(s: Session, problem: Problem, changes: dict[str, Any]) -> dict[str, Any]:
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


def _rows(data: Any) -> Any:
    """Return data as nested lists (what `building.build_data` checks)."""
    return data.tolist() if isinstance(data, np.ndarray) else data


# ---------------------------------------------------------------------- starting over
def draw_fresh(s: Session) -> None:
    """Draw fresh initial parameters; back to step 0 with no loss history or edits."""
    s.parameters = s.initial = initialize(s.spec)
    s.state = new_state(s.spec.optimizer, flat(s.parameters))
    s.progress = Progress()
    s.history_steps, s.history_losses = history.empty()
    s.edits = []


def restart(s: Session) -> None:
    """Draw fresh initial parameters and go back to step 0 with no history."""
    draw_fresh(s)
    s.phase = 0
    s.test_steps, s.test_losses = history.empty()


def reinitialize(s: Session, init: dict[str, Any] | None, caps: Costs) -> None:
    """Draw new parameters (optionally with a new init scheme/seed); back to step 0."""
    if init:
        s.spec = building.build_spec(building.merge_spec(s.spec, {"init": init}),
                                     caps.settings)
    restart(s)
    reading.refresh(s, caps)
    reading.record_test_loss(s)


def reset(s: Session, caps: Costs) -> None:
    """Go back to the initial parameters and step 0."""
    initial = s.initial
    restart(s)
    s.parameters = s.initial = initial
    s.state = new_state(s.spec.optimizer, flat(s.parameters))
    reading.refresh(s, caps)
    reading.record_test_loss(s)


def return_to_snapshot(s: Session, source: list[Snapshot], target: list[Snapshot]) -> None:
    """Undo (source: the undo stack) or redo (the redo stack): restore its last snapshot
    and push the present onto the other stack."""
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
