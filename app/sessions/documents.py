"""Export and import: a JSON document that recreates a session exactly.

JSON numbers are written with Python's shortest round-trip representation, so every
float64 comes back bit for bit. The document carries the spec, the data, the current and
initial parameters, the optimiser state, the training position and the loss history —
everything but the undo stack and the id. Import re-validates all of it against the
limits, exactly like a create request.
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.optimizers import OPTIMIZERS, OptimizerState
from app.engine.params import Parameters, Transition, as_matrix, as_vector, flat
from app.engine.spec import SpecError, spec_to_dict
from app.engine.train import Progress
from app.settings import Settings

from . import building, history
from .errors import ServiceError
from .model import Divergence, Problem, Session

FORMAT = "backprop-playground/session"
VERSION = 1
PROBLEM_ARRAYS = ("plane_train", "plane_test", "test_inputs", "test_targets")
COMPACT_ABOVE = 50_000  # numbers; larger sessions store arrays as base64 float64


def _pack(arr: NDArray[np.float64], compact: bool) -> Any:
    """Return an array as nested lists, or as {"float64_base64", "shape"} when compact."""
    if not compact:
        return arr.tolist()
    raw = np.ascontiguousarray(arr, dtype="<f8").tobytes()
    return {"float64_base64": base64.b64encode(raw).decode("ascii"), "shape": list(arr.shape)}


def unpack(value: Any) -> Any:
    """Return nested lists for a packed array (lists pass through unchanged)."""
    if isinstance(value, dict) and "float64_base64" in value:
        raw = base64.b64decode(value["float64_base64"], validate=True)
        shape = tuple(int(v) for v in value["shape"])
        return np.frombuffer(raw, dtype="<f8").reshape(shape).tolist()
    return value


def _params(params: Parameters, compact: bool = False) -> list[dict[str, Any]]:
    return [{"weights": _pack(t.weights, compact), "biases": _pack(t.biases, compact)}
            for t in params]


def expand(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the document with every packed array as nested lists (for readers)."""
    out = dict(doc)
    out["spec"] = {**doc["spec"], "inputs": unpack(doc["spec"]["inputs"]),
                   "targets": unpack(doc["spec"]["targets"])}
    for key in ("parameters", "initial_parameters"):
        if doc.get(key) is not None:
            out[key] = [{"weights": unpack(p["weights"]), "biases": unpack(p["biases"])}
                        for p in doc[key]]
    if isinstance(doc.get("problem"), dict):
        out["problem"] = {**doc["problem"], **{
            name: unpack(doc["problem"][name]) for name in PROBLEM_ARRAYS}}
    state = doc.get("optimizer_state") or {}
    out["optimizer_state"] = {**state, "slots": {
        k: [unpack(a) for a in v] for k, v in (state.get("slots") or {}).items()}}
    return out


def export(s: Session) -> dict[str, Any]:
    """Return the session as a JSON-ready document.

    Arrays are nested lists; a session with more than COMPACT_ABOVE numbers stores them as
    base64 little-endian float64 instead, so the largest session's export stays under the
    body limit and still imports back exactly.
    """
    total = (s.inputs.size + s.targets.size + 2 * s.spec.parameter_count()
             + sum(a.size for arrs in s.state.slots.values() for a in arrs))
    compact = total > COMPACT_ABOVE
    state = {"t": s.state.t, "slots": {k: [_pack(a, compact) for a in v]
                                       for k, v in s.state.slots.items()}}
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": time.time(),
        "title": s.title,
        "example": s.example,
        "spec": {**spec_to_dict(s.spec), "inputs": _pack(s.inputs, compact),
                 "targets": _pack(s.targets, compact)},
        "parameters": _params(s.parameters, compact),
        "initial_parameters": _params(s.initial, compact),
        "optimizer_state": state,
        "progress": {"step": s.progress.step, "epoch": s.progress.epoch,
                     "cursor": s.progress.cursor},
        "history": {"step": s.history_steps.tolist(), "loss": s.history_losses.tolist()},
        "edits": list(s.edits),
        "status": s.status,
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "problem": None if s.problem is None else {
            "recipe": s.problem.recipe, "kind": s.problem.kind, "classes": s.problem.classes,
            **{name: _pack(getattr(s.problem, name), compact) for name in PROBLEM_ARRAYS}},
        "test_history": {"step": s.test_steps.tolist(), "loss": s.test_losses.tolist()},
    }


def _read_params(spec_shapes: list[tuple[int, int]], data: list[Any], field: str) -> Parameters:
    if len(data) != len(spec_shapes):
        raise ServiceError(422, "invalid", f"needs {len(spec_shapes)} transitions", field)
    try:
        return tuple(
            Transition(as_matrix(d["weights"], f"{field}[{l}].weights", shape),
                       as_vector(d["biases"], f"{field}[{l}].biases", shape[1]))
            for l, (d, shape) in enumerate(zip(data, spec_shapes, strict=True))
        )
    except SpecError as err:
        raise ServiceError.from_spec(err) from None


def _read_state(doc: dict[str, Any], params: Parameters, name: str) -> OptimizerState:
    state = OptimizerState.from_dict(doc.get("optimizer_state") or {})
    arrays = flat(params)
    expected = OPTIMIZERS[name].slots
    if set(state.slots) != set(expected) or any(
        len(v) != len(arrays) or any(a.shape != b.shape for a, b in zip(v, arrays, strict=True))
        or not all(np.isfinite(a).all() for a in v)
        for v in state.slots.values()
    ):
        raise ServiceError(422, "invalid", f"does not fit the {name} optimiser and the "
                           "network's shapes", "optimizer_state")
    return state


def restore(doc: dict[str, Any], new_id: str, settings: Settings) -> Session:
    """Build a session from an exported document (validated like a create request)."""
    if doc.get("format") != FORMAT:
        raise ServiceError(422, "invalid", f"format must be {FORMAT!r}", "format")
    if doc.get("version") != VERSION:
        raise ServiceError(422, "invalid", f"version must be {VERSION}", "version", VERSION)
    for key, kind in (("spec", dict), ("parameters", list), ("optimizer_state", dict),
                      ("progress", dict), ("history", dict)):
        if key in doc and doc[key] is not None and not isinstance(doc[key], kind):
            what = "an object" if kind is dict else "a list"
            raise ServiceError(422, "invalid", f"must be {what}", key)
    doc = expand(doc)
    raw = doc["spec"]
    spec = building.build_spec(raw, settings)
    inputs, targets = building.build_data(spec, raw["inputs"], raw["targets"], settings)
    params = _read_params(spec.shapes(), doc["parameters"], "parameters")
    initial = _read_params(spec.shapes(), doc.get("initial_parameters") or doc["parameters"],
                           "initial_parameters")
    state = _read_state(doc, params, spec.optimizer.name)
    p = doc.get("progress") or {}
    progress = Progress(int(p.get("step", 0)), int(p.get("epoch", 0)), int(p.get("cursor", 0)))
    if min(progress.step, progress.epoch, progress.cursor) < 0 or progress.cursor >= len(inputs):
        raise ServiceError(422, "invalid", "step, epoch and cursor must be ≥ 0 and the cursor "
                           "below the number of observations", "progress")
    steps, losses = _read_history(doc, "history")
    div = doc.get("divergence")
    problem = _read_problem(doc.get("problem"), spec.layers[0], spec.layers[-1])
    test_steps, test_losses = _read_history(doc, "test_history")
    now = time.time()
    return Session(
        new_id, spec, inputs, targets, params, initial, state, now, now,
        progress=progress, history_steps=steps, history_losses=losses,
        edits=[int(v) for v in doc.get("edits", [])],
        status="diverged" if doc.get("status") == "diverged" else "ok",
        divergence=None if not div else Divergence(int(div["step"]), div.get("layer"),
                                                   str(div["quantity"])),
        title=str(doc.get("title") or ""), example=_read_example(doc.get("example")),
        problem=problem, test_steps=test_steps, test_losses=test_losses,
    )


def _read_history(doc: dict[str, Any], field: str) -> tuple[history.Steps, history.Losses]:
    """Return a {"step", "loss"} history of the document, checked."""
    hist = doc.get(field) or {"step": [], "loss": []}
    steps = [int(v) for v in hist.get("step", [])]
    losses = [float(v) for v in hist.get("loss", [])]
    if len(steps) != len(losses) or not all(math.isfinite(v) for v in losses):
        raise ServiceError(422, "invalid", "step and loss must be lists of equal length with "
                           "finite losses", field)
    return history.of(steps, losses)


def _read_problem(data: Any, n_in: int, n_out: int) -> Problem | None:
    """Return the exported problem, checked for shapes and finiteness."""
    if data is None:
        return None
    try:
        arrays = {name: as_matrix(data[name], f"problem.{name}") for name in PROBLEM_ARRAYS}
    except SpecError as err:
        raise ServiceError.from_spec(err) from None
    widths = {"plane_train": 2, "plane_test": 2, "test_inputs": n_in, "test_targets": n_out}
    for name, width in widths.items():
        if arrays[name].shape[1] != width:
            raise ServiceError(422, "invalid", f"needs {width} columns", f"problem.{name}")
    if arrays["plane_test"].shape[0] != arrays["test_inputs"].shape[0] or \
            arrays["test_inputs"].shape[0] != arrays["test_targets"].shape[0]:
        raise ServiceError(422, "invalid", "test rows do not line up", "problem")
    if data.get("kind") not in ("classification", "regression"):
        raise ServiceError(422, "invalid", "kind must be classification or regression",
                           "problem.kind")
    return Problem(_read_recipe(data.get("recipe")), data["kind"], data.get("classes"),
                   arrays["plane_train"], arrays["plane_test"], arrays["test_inputs"],
                   arrays["test_targets"])


RECIPE_KINDS: dict[str, tuple[type, ...]] = {  # a recipe's fields and the JSON types they take
    "name": (str,), "points": (int,), "seed": (int,), "classes": (int,),
    "noise": (int, float), "test_ratio": (int, float), "features": (list,), "edited": (bool,)}
KIND_NAMES = {(str,): "text", (int,): "a whole number", (int, float): "a finite number",
              (list,): "a list of names", (bool,): "true or false"}


def _read_recipe(recipe: Any) -> dict[str, Any]:
    """Return an exported problem's recipe, its fields checked for their types."""
    if recipe is None:
        return {}
    if not isinstance(recipe, dict):
        raise ServiceError(422, "invalid", "must be an object", "problem.recipe")
    for key, value in recipe.items():
        field = f"problem.recipe.{key}"
        if key not in RECIPE_KINDS:
            raise ServiceError(422, "unknown_field", f"{field} is not a field of a recipe", field)
        kinds = RECIPE_KINDS[key]
        if value is None:
            continue
        if isinstance(value, bool) is not (kinds == (bool,)) or not isinstance(value, kinds) \
                or (isinstance(value, float) and not math.isfinite(value)):
            raise ServiceError(422, "invalid", f"{field} must be {KIND_NAMES[kinds]}", field)
        if isinstance(value, list) and not all(isinstance(f, str) for f in value):
            raise ServiceError(422, "invalid", f"{field} must be a list of names", field)
    return dict(recipe)


def _read_example(example: Any) -> str | None:
    """Return an exported session's example name (None: not from an example), checked."""
    if example is not None and not isinstance(example, str):
        raise ServiceError(422, "invalid", "example must be an example's name", "example")
    return example
