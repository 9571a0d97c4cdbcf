"""The inspector: one neuron's or one weight's numbers, each beside its formula.

Selecting a neuron or an edge of the diagram opens it: for a neuron, n = b + Σ a·w with
this observation's terms, a = f(n), δ = ∂C/∂a ⊙ ∂a/∂n, its incoming weights and bias with
their gradients, steps and optimiser state; for a weight, ∂C/∂w = Σ a·δ over the batch,
its step and its state. The same cells are marked in the open deep view (`marks`).
Every number is read from the session's trace; none is computed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from numpy.typing import NDArray

from app.engine.activations import ACTIVATIONS
from app.engine.trace import Trace
from app.sessions import costs
from app.sessions.errors import ServiceError
from app.sessions.model import Session

from .format import num, sub, sup
from .panels import Service, reading
from .preferences import Prefs
from .templating import environment

router = APIRouter(include_in_schema=False)
Array = NDArray[np.float64]
TERMS = 8  # terms of a sum written out before "…"
TERMS_SHOWN = costs.TERMS_SHOWN  # incoming weights listed for a neuron (a wide layer has 1024)


@dataclass(frozen=True)
class Parameter:
    """One weight or bias: its name, value, gradient, step and optimiser state."""

    kind: str  # "weights" or "biases"
    transition: int
    row: int
    column: int
    name: str
    value: float
    gradient: float  # what the optimiser receives (loss gradient + penalty)
    step: float
    state: list[tuple[str, float]]  # the optimiser's slots after the step


def _parameter(tr: Trace, kind: str, t: int, row: int, column: int) -> Parameter:
    u = tr.update[t]
    index = 2 * t + (kind == "biases")
    def pick(a: Array) -> float:
        return float(a[column] if kind == "biases" else a[row, column])

    old = u.old.biases if kind == "biases" else u.old.weights
    grad = u.gradient.biases if kind == "biases" else u.gradient.weights
    step = u.step.biases if kind == "biases" else u.step.weights
    name = (f"b{sup(t)}{sub(column)}" if kind == "biases"
            else f"w{sup(t)}{sub(row)},{sub(column)}")
    state = [(slot, pick(arrays[index])) for slot, arrays in tr.state_after.slots.items()]
    return Parameter(kind, t, row, column, name, pick(old), pick(grad), pick(step), state)


def _sum(terms: list[str]) -> str:
    shown = terms[:TERMS] + (["…"] if len(terms) > TERMS else [])
    return " + ".join(shown).replace("+ −", "− ")


def neuron(s: Session, tr: Trace, own: Trace, obs: int, layer: int, i: int, d: int
           ) -> dict[str, Any]:
    """Return a neuron's numbers: `own` is a trace holding observation `obs` (row 0 of
    it unless it is the step's trace `tr`, where it sits at row `at`)."""
    rows = list(range(s.inputs.shape[0])) if own.rows is None else [int(r) for r in own.rows]
    at = rows.index(obs)
    if layer == 0:
        return {"kind": "input", "value": float(s.inputs[obs, i]),
                "values": [(o, num(float(s.inputs[o, i]), d)) for o in range(
                    min(s.inputs.shape[0], TERMS))]}
    f, b = own.forward[layer - 1], own.backward_for(layer)
    t = layer - 1
    a_prev, w = f.input[at], s.parameters[t].weights[:, i]
    terms = [f"{num(float(a_prev[j]), d)}·{num(float(w[j]), d)}"
             for j in range(min(w.size, TERMS + 1))]  # `_sum` writes TERMS, then "…"
    listed = min(w.size, TERMS_SHOWN)
    act = ACTIVATIONS[f.activation]
    return {
        "kind": "neuron", "activation": f.activation, "formula": act.formula,
        "derivative_formula": act.derivative_formula,
        "z": float(f.z[at, i]), "a": float(f.a[at, i]), "dloss_da": float(b.dloss_da[at, i]),
        "da_dz": None if b.da_dz is None else float(b.da_dz[at, i]),
        "delta": float(b.delta[at, i]), "combined": b.combined,
        "bias": num(float(s.parameters[t].biases[i]), d), "sum": _sum(terms),
        "incoming": [_parameter(tr, "weights", t, j, i) for j in range(listed)],
        "incoming_total": w.size,
        "bias_parameter": _parameter(tr, "biases", t, 0, i),
        "in_batch": own is tr,
    }


def weight(s: Session, tr: Trace, t: int, j: int, i: int, d: int) -> dict[str, Any]:
    """Return a weight's numbers: ∂C/∂w as a sum over the batch, its step and state."""
    f, b = tr.forward[t], tr.backward_for(t + 1)
    rows = list(range(s.inputs.shape[0])) if tr.rows is None else [int(r) for r in tr.rows]
    terms = [f"{num(float(f.input[k, j]), d)}·{num(float(b.delta[k, i]), d)}"
             for k in range(min(len(rows), TERMS + 1))]
    return {"kind": "weight", "parameter": _parameter(tr, "weights", t, j, i),
            "loss_gradient": float(b.grad_weights[j, i]), "sum": _sum(terms),
            "rows": rows, "batch": tr.batch}


def marks(kind: str, layer: int, i: int, t: int, j: int, prefs: Prefs
          ) -> list[dict[str, Any]]:
    """Return the cells of the deep views that hold this unit's numbers: by matrix key,
    the column (or, transposed, the row) they sit in."""
    if kind == "weight":
        row = j + 1 if prefs.augmented else j
        return [{"key": f"w-{t}", "col": i, "row": row}, {"key": f"grad-{t + 1}", "col": i,
                                                           "row": row}]
    if layer == 0:
        return []
    keys = [f"{k}-{layer}" for k in ("z", "a", "dloss_da", "da_dz", "delta")]
    keys += [f"w-{layer - 1}", f"grad-{layer}", f"un-{layer - 1}", f"prod-{layer}"]
    return [{"key": key, "col": i} for key in keys]


def _whole(request: Request, name: str, low: int, high: int) -> int:
    raw = request.query_params.get(name, "0")
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ServiceError(422, "invalid", f"must be a whole number from {low} to {high}.",
                           name, [low, high])
    return int(raw)


@router.get("/s/{ref}/inspect", response_class=HTMLResponse)
@router.get("/v/{ref}/inspect", response_class=HTMLResponse)
def inspect(ref: str, request: Request, service: Service,
            unit: Annotated[str, Query(pattern="^(neuron|weight)$")] = "neuron") -> HTMLResponse:
    """Return the inspector of one neuron (layer, index) or weight (transition, row,
    column)."""
    s, prefs = reading(request, service, ref)
    layers = s.spec.layers
    obs = min(prefs.observation, s.inputs.shape[0] - 1)
    tr = service.trace_of(s)
    if unit == "weight":
        t = _whole(request, "transition", 0, len(layers) - 2)
        j = _whole(request, "row", 0, layers[t] - 1)
        i = _whole(request, "column", 0, layers[t + 1] - 1)
        found, layer = weight(s, tr, t, j, i, prefs.decimals), t + 1
        key = {"unit": "weight", "transition": t, "row": j, "column": i}
    else:
        layer = _whole(request, "layer", 0, len(layers) - 1)
        i = _whole(request, "index", 0, layers[layer] - 1)
        in_step = tr.rows is None or obs in tr.rows.tolist()
        own = tr if in_step else service.trace_of(s, [obs])
        found, t, j = neuron(s, tr, own, obs, layer, i, prefs.decimals), layer - 1, 0
        key = {"unit": "neuron", "layer": layer, "index": i}
    html = environment().get_template("session/inspector.html").render(
        s=s, sid=None if prefs.readonly else s.id, prefs=prefs, ro=prefs.readonly, u=found,
        layer=layer, i=i, t=t, j=j, obs=obs, L=s.spec.transitions, key=json.dumps(key),
        marks=json.dumps(marks(found["kind"], layer, i, t, j, prefs)))
    return HTMLResponse(html)
