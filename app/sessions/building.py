"""Turn request data (plain dicts and lists) into engine objects, limits first.

Every check that can refuse a request runs here on the plain Python data, before NumPy
allocates anything: layer count and sizes, parameter count, observations, data cells.
Then the engine validates the spec and the data, naming the field that is wrong.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from app.engine.datasets import DatasetSpec, featurize, generate, split
from app.engine.initializers import initialize
from app.engine.params import Parameters, Transition, as_matrix, as_vector, check_data
from app.engine.spec import NetworkSpec, SpecError, spec_from_dict, spec_to_dict, validate
from app.settings import Settings

from .errors import ServiceError, over_limit
from .model import Problem

NESTED = ("init", "optimizer", "regularization")
SPEC_FIELDS = ("layers", "hidden_activation", "output_activation", "activations", "loss",
               "init", "optimizer", "regularization", "batch_size", "shuffle_seed")


def check_layers(layers: Any, settings: Settings) -> None:
    """Refuse architectures over the limits, before anything is allocated."""
    if not isinstance(layers, list | tuple) or len(layers) < 2:
        raise ServiceError(422, "invalid", "needs at least an input and an output layer",
                           "layers", 2)
    if len(layers) - 1 > settings.max_transitions:
        raise over_limit("layers", f"at most {settings.max_transitions} weight matrices "
                         f"({settings.max_transitions + 1} layers), got {len(layers) - 1}",
                         settings.max_transitions + 1)
    for i, size in enumerate(layers):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ServiceError(422, "invalid", f"must be a positive whole number, got {size!r}",
                               f"layers[{i}]", 1)
        if size > settings.max_neurons:
            raise over_limit(f"layers[{i}]", f"at most {settings.max_neurons} neurons per "
                             f"layer, got {size}", settings.max_neurons)
    count = sum(i * o + o for i, o in itertools.pairwise(layers))
    if count > settings.max_parameters:
        raise over_limit("layers", f"this network has {count:,} parameters; the limit is "
                         f"{settings.max_parameters:,}", settings.max_parameters)


def check_data_size(inputs: Any, targets: Any, settings: Settings) -> None:
    """Refuse data over the observation and cell limits, before conversion."""
    for name, rows in (("inputs", inputs), ("targets", targets)):
        if not isinstance(rows, list | tuple):
            raise ServiceError(422, "invalid", "must be a list of rows", name)
        if len(rows) > settings.max_observations:
            raise over_limit(name, f"at most {settings.max_observations:,} observations, got "
                             f"{len(rows):,}", settings.max_observations)
    cells = sum(len(r) if isinstance(r, list | tuple) else 1 for r in (*inputs, *targets))
    if cells > settings.max_data_cells:
        raise over_limit("inputs", f"inputs and targets hold {cells:,} numbers; the limit is "
                         f"{settings.max_data_cells:,}", settings.max_data_cells)


def merge_spec(spec: NetworkSpec, changes: dict[str, Any]) -> dict[str, Any]:
    """Return the spec as a dict with `changes` applied (nested objects merged by field)."""
    merged = spec_to_dict(spec)
    for key in SPEC_FIELDS:
        if key not in changes:
            continue
        if key in NESTED and changes[key] is not None:
            merged[key] = {**merged[key], **changes[key]}
        else:
            merged[key] = changes[key]
    if "layers" in changes and "activations" not in changes and merged["activations"]:
        old = list(merged["activations"])
        count = len(merged["layers"]) - 1
        hidden = [old[i] if i < len(old) - 1 else merged["hidden_activation"]
                  for i in range(count - 1)]
        merged["activations"] = [*hidden, old[-1]]
    return merged


def build_spec(data: dict[str, Any], settings: Settings) -> NetworkSpec:
    """Return a validated spec from a spec dict, refusing anything over the limits."""
    check_layers(data.get("layers"), settings)
    try:
        return validate(spec_from_dict(data))
    except SpecError as err:
        raise ServiceError.from_spec(err) from None
    except TypeError as err:  # an unknown nested field slipped past the schema
        raise ServiceError(422, "invalid", str(err)) from None


def build_data(spec: NetworkSpec, inputs: Any, targets: Any,
               settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Return (inputs, targets) as float64 matrices fitting the spec."""
    check_data_size(inputs, targets, settings)
    try:
        return check_data(spec, inputs, targets)
    except SpecError as err:
        raise ServiceError.from_spec(err) from None


def explicit_parameters(spec: NetworkSpec, given: list[Any], base: Parameters) -> Parameters:
    """Return `base` with whole matrices replaced where `given` has them (None = keep)."""
    if len(given) != spec.transitions:
        raise ServiceError(422, "invalid", f"needs one entry per transition "
                           f"({spec.transitions}), got {len(given)}", "parameters",
                           spec.transitions)
    out = list(base)
    try:
        for l, (entry, (fan_in, fan_out)) in enumerate(zip(given, spec.shapes(), strict=True)):
            if not entry:
                continue
            w = out[l].weights
            b = out[l].biases
            if entry.get("weights") is not None:
                w = as_matrix(entry["weights"], f"parameters[{l}].weights", (fan_in, fan_out))
            if entry.get("biases") is not None:
                b = as_vector(entry["biases"], f"parameters[{l}].biases", fan_out)
            out[l] = Transition(w, b)
    except SpecError as err:
        raise ServiceError.from_spec(err) from None
    return tuple(out)


def set_cell(spec: NetworkSpec, params: Parameters, cell: dict[str, Any],
             field: str) -> Parameters:
    """Return parameters with one weight or bias changed."""
    l, kind = cell["transition"], cell["kind"]
    if not 0 <= l < spec.transitions:
        raise ServiceError(422, "invalid", f"transition must be 0…{spec.transitions - 1}",
                           f"{field}.transition", spec.transitions - 1)
    fan_in, fan_out = spec.shapes()[l]
    column = cell["column"]
    if not 0 <= column < fan_out:
        raise ServiceError(422, "invalid", f"column must be 0…{fan_out - 1}",
                           f"{field}.column", fan_out - 1)
    w, b = params[l].weights.copy(), params[l].biases.copy()
    if kind == "weights":
        row = cell.get("row")
        if row is None or not 0 <= row < fan_in:
            raise ServiceError(422, "invalid", f"row must be 0…{fan_in - 1} for weights",
                               f"{field}.row", fan_in - 1)
        w[row, column] = cell["value"]
    else:
        b[column] = cell["value"]
    out = list(params)
    out[l] = Transition(w, b)
    return tuple(out)


def set_data_cells(inputs: np.ndarray, targets: np.ndarray,
                   cells: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Return {"inputs"/"targets": a copy with single cells changed} (only what changed).

    Shapes stay as they are, so only the new values need checking: each must be a finite
    number (the rest of the data was checked when it came in).
    """
    data = {"inputs": inputs, "targets": targets}
    edited: dict[str, np.ndarray] = {}
    for i, cell in enumerate(cells):
        kind = cell["kind"]
        if kind not in edited:
            edited[kind] = data[kind].copy()
        m = edited[kind]
        r, c = cell["row"], cell["column"]
        if not 0 <= r < m.shape[0]:
            raise ServiceError(422, "invalid", f"row must be 0…{m.shape[0] - 1}",
                               f"data_cells[{i}].row", m.shape[0] - 1)
        if not 0 <= c < m.shape[1]:
            raise ServiceError(422, "invalid", f"column must be 0…{m.shape[1] - 1}",
                               f"data_cells[{i}].column", m.shape[1] - 1)
        value = cell["value"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise ServiceError(422, "invalid", f"must be a finite number, got {value!r}",
                               f"data_cells[{i}].value")
        m[r, c] = value
    return edited


def reshape_parameters(old_spec: NetworkSpec, new_spec: NetworkSpec,
                       params: Parameters) -> Parameters:
    """Keep every transition whose shape is unchanged; redraw the others.

    When only the widths changed (the same number of layers), a resized transition keeps
    its weights where old and new overlap, so a neuron added or removed leaves every
    other weight as it was (hand edits included); only the new rows and columns are
    drawn. When layers were added or removed, a transition of a new shape is drawn afresh.
    """
    old_shapes = old_spec.shapes()
    changed = [l for l, shape in enumerate(new_spec.shapes())
               if l >= len(old_shapes) or old_shapes[l] != shape]
    if not changed:
        return params
    fresh = initialize(new_spec, keep={l: params[l] for l in range(new_spec.transitions)
                                      if l not in changed})
    if len(old_shapes) != new_spec.transitions:
        return fresh
    kept = []
    for l, t in enumerate(fresh):
        if l in changed:
            old = params[l]
            rows = min(t.weights.shape[0], old.weights.shape[0])
            cols = min(t.weights.shape[1], old.weights.shape[1])
            weights, biases = t.weights.copy(), t.biases.copy()  # (fan_in, fan_out), (fan_out,)
            weights[:rows, :cols] = old.weights[:rows, :cols]
            biases[:cols] = old.biases[:cols]
            t = Transition(weights, biases)
        kept.append(t)
    return tuple(kept)


DATASET_FIELDS = ("name", "points", "noise", "seed", "classes")
PROBLEM_DEFAULTS: dict[str, dict[str, Any]] = {  # spec defaults per kind of problem
    "binary": {"hidden_activation": "tanh", "output_activation": "sigmoid",
               "loss": "binary_cross_entropy"},
    "multiclass": {"hidden_activation": "tanh", "output_activation": "softmax",
                   "loss": "cross_entropy"},
    "regression": {"hidden_activation": "tanh", "output_activation": "linear", "loss": "mse"},
}


def build_problem(recipe: dict[str, Any],
                  settings: Settings) -> tuple[Problem, np.ndarray, np.ndarray]:
    """Generate, split and featurize a 2-D dataset; return it and the training data."""
    try:
        spec = DatasetSpec(**{k: recipe[k] for k in DATASET_FIELDS if recipe.get(k) is not None})
        if spec.points > settings.max_observations:
            raise ServiceError(422, "limit_exceeded", f"at most {settings.max_observations:,} "
                               "points", "dataset.points", settings.max_observations)
        data = generate(spec)
        ratio = 0.5 if recipe.get("test_ratio") is None else recipe["test_ratio"]
        train, test = split(data, ratio, spec.seed)
        names = list(["x1", "x2"] if recipe.get("features") is None else recipe["features"])
        train_x = featurize(train.inputs, names)  # (train, features)
        test_x = featurize(test.inputs, names)  # (test, features)
    except SpecError as err:
        field = err.field if (err.field or "").startswith("dataset") else f"dataset.{err.field}"
        raise ServiceError(422, "invalid", err.message, field, err.limit) from None
    except TypeError as err:
        raise ServiceError(422, "invalid", str(err), "dataset") from None
    full = {"name": spec.name, "points": spec.points, "noise": spec.noise, "seed": spec.seed,
            "classes": spec.classes, "test_ratio": ratio, "features": names}
    problem = Problem(full, data.problem, data.classes, train.inputs, test.inputs, test_x,
                      test.targets)
    return problem, train_x, train.targets


def problem_kind(problem: Problem) -> str:
    """Return binary, multiclass or regression."""
    if problem.kind == "regression":
        return "regression"
    return "binary" if problem.test_targets.shape[1] == 1 else "multiclass"
