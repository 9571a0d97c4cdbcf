"""Engine objects → JSON-ready dicts, with non-finite numbers sent as null; and `JSON`, the
response that writes a large body in pieces.

`JSON` keeps a large body from stalling the event loop, twice. It writes each matrix row
(and each PIECE numbers of a long list) with its own call of the C encoder: one call over a
whole trace held the interpreter lock for a second and more, and every request of the
process waited behind it. And it sends a large body in pieces (`app.paced`) with
a turn of the loop between them: the compression middleware compresses what it is sent on
the loop, and a 17 MB body in one piece held it ~0.3 s (zstd) to 2 s (brotli). The
encoder is orjson: the same values as `json.dumps` (floats in their shortest round-trip
form, `1e-5` rather than `1e-05`), a trace of the largest network written in ~0.25 s of
CPU instead of ~1.2 (docs/performance.md, "JSON written by orjson"). The Content-Length
stays (the middleware replaces it when it compresses).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from fastapi.responses import JSONResponse
from numpy.typing import NDArray

from app.engine.diagnostics import (
    SYMMETRY_EXPLANATION,
    GradientCheck,
    LayerActivity,
    LayerGradient,
    LayerSymmetry,
)
from app.engine.optimizers import penalty
from app.engine.phases import StepperView
from app.engine.trace import Trace, predict
from app.paced import Paced
from app.sessions import costs
from app.sessions.model import Session
from app.sessions.service import SessionService

PIECE = 2_048  # numbers of a long flat list written by one call of the encoder (~2 ms)


def dumps(value: Any) -> str:
    """Return `value` as compact JSON (no NaN), written piece by piece (see the module)."""
    if isinstance(value, dict):
        return "{" + ",".join(_encode(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple | dict):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, list | tuple) and len(value) > PIECE:
        return "[" + ",".join(_encode(value[i : i + PIECE])[1:-1]
                              for i in range(0, len(value), PIECE)) + "]"
    return _encode(value)


def _encode(value: Any) -> str:
    """Return one piece as JSON (orjson: ~5× the standard encoder on a trace; NumPy scalars
    as numbers, NaN as null — `clean` has already made every non-finite cell None)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class JSON(Paced, JSONResponse):
    """A JSON response written and sent in pieces: large bodies leave the loop its turns."""

    def render(self, content: Any) -> bytes:
        """Return the body."""
        return dumps(content).encode("utf-8")


def clean(arr: NDArray[Any] | None) -> Any:
    """Return the array as nested lists, with NaN/±Inf replaced by None."""
    if arr is None:
        return None
    if np.isfinite(arr).all():
        return arr.tolist()
    cells = arr.astype(object)
    cells[~np.isfinite(arr)] = None
    return cells.tolist()


def number(value: float | None) -> float | None:
    """Return the float, or None when it is not finite."""
    return value if value is not None and math.isfinite(value) else None


def session_public(service: SessionService, s: Session) -> dict[str, Any]:
    """Return the session as the API shows it to whoever holds its id: with its view token
    (None only while the store cannot record the first one: the answer to a change
    already made is never lost for it)."""
    return {"id": s.id, **session_view(service, s, service.view_token_if_any(s.id))}


def session_view(service: SessionService, s: Session, token: str | None) -> dict[str, Any]:
    """Return the session as its view token shows it: everything but the id."""
    train_acc, test_acc = service.accuracies(s)
    return {
        "view_token": token, "version": s.version, "title": s.title, "example": s.example,
        "step": s.progress.step, "epoch": s.progress.epoch,
        "spec": service.spec_dict(s),
        "parameters": [{"weights": clean(t.weights), "biases": clean(t.biases)}
                       for t in s.parameters],
        "outputs": clean(predict(s.spec, s.parameters, s.inputs)),
        "loss": number(s.loss),
        "penalty": penalty(s.spec.regularization, [t.weights for t in s.parameters]),
        "status": s.status,
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "phase": s.phase, "can_undo": bool(s.undo), "can_redo": bool(s.redo),
        "created_at": s.created_at, "updated_at": s.updated_at,
        "expires_at": service.expires_at(s),
        "dataset": None if s.problem is None else s.problem.recipe,
        "test_loss": number(service.test_loss(s)),
        "accuracy": train_acc, "test_accuracy": test_acc,
    }


LEFT_OUT = {
    "input_augmented": "forward[].input_augmented ([1 | a] of the layer below)",
    "grad_augmented": "backward[].grad_augmented ([∂C/∂b ; ∂C/∂w])",
    "augmented": "update[].augmented ([b ; w] after the step)",
    "penalty_gradient": "update[].penalty_gradient (gradient_weights − backward's grad_weights)",
    "gradient_weights": "update[].gradient_weights and gradient_biases (backward's "
                        "grad_weights and grad_biases: there is no penalty)",
}


def sampled(tr: Trace, left_out: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Return what a response built from `tr` leaves out (None: nothing)."""
    if not tr.sampled and not left_out:
        return None
    shown = len(tr.rows) if tr.rows is not None else 0
    notes = []
    if tr.batch is not None:
        notes.append(f"This step's batch has {tr.batch:,} observations; the trace holds its "
                     f"first {shown:,} (at most {costs.TRACE_CELLS:,} observations × neurons "
                     "per trace), and its loss, gradient and update are theirs, not the whole "
                     "batch's (training uses every row). Ask for other rows with "
                     "observations=…")
    if left_out:
        notes.append(f"Left out (null) to keep the response within {costs.RESPONSE_NUMBERS:,} "
                     "numbers, each a repeat of what it sends: "
                     + "; ".join(LEFT_OUT[k] for k in left_out if k in LEFT_OUT) + ".")
    return {"observations_shown": shown, "observations_total": tr.batch or shown,
            "left_out": list(left_out), "message": " ".join(notes)}


def _shown(s: Session, tr: Trace) -> dict[str, Any]:
    """Return how many of the step's observations a trace-based response shows."""
    shown = s.inputs.shape[0] if tr.rows is None else len(tr.rows)
    return {"observations_shown": shown, "observations_total": tr.batch or shown,
            "sampled": sampled(tr)}


def trace_out(s: Session, tr: Trace, augmented: bool) -> dict[str, Any]:
    """Return the trace as DESIGN.md's forward / loss / backward / update, with the repeats
    of a large one left out (`costs.trace_json`) and named in `sampled`."""
    n = s.inputs.shape[0]
    rows = list(range(n)) if tr.rows is None else [int(i) for i in tr.rows]
    penalised = s.spec.regularization.kind != "none" and s.spec.regularization.rate > 0
    out = costs.trace_json(s.spec, len(rows), augmented, len(tr.state_after.slots), penalised)

    def put(key: str, value: Any) -> Any:
        return None if key in out else clean(value)

    forward = []
    for f in tr.forward:
        entry = {"layer": f.layer, "activation": f.activation, "z": clean(f.z), "a": clean(f.a)}
        if augmented:
            entry["input_augmented"] = put("input_augmented", f.augmented_input())
        forward.append(entry)
    backward = []
    for b in tr.backward:
        entry = {"layer": b.layer, "dloss_da": clean(b.dloss_da), "da_dz": clean(b.da_dz),
                 "delta": clean(b.delta), "combined": b.combined,
                 "grad_weights": clean(b.grad_weights), "grad_biases": clean(b.grad_biases),
                 "dloss_da_below": clean(b.dloss_da_below)}
        if augmented:
            entry["grad_augmented"] = put("grad_augmented", b.augmented_gradient())
        backward.append(entry)
    update = []
    for u in tr.update:
        entry = {"transition": u.transition,
                 "gradient_weights": put("gradient_weights", u.gradient.weights),
                 "gradient_biases": put("gradient_biases", u.gradient.biases),
                 "penalty_gradient": put("penalty_gradient", u.penalty_gradient),
                 "step_weights": clean(u.step.weights), "step_biases": clean(u.step.biases),
                 "weights": clean(u.new.weights), "biases": clean(u.new.biases)}
        if augmented:
            entry["augmented"] = put("augmented", u.new.augmented())
        update.append(entry)
    state = tr.state_after
    return {
        "step": s.progress.step, "observations": rows, "forward": forward,
        "loss": number(tr.loss), "loss_per_observation": clean(tr.loss_per_observation),
        "penalty": number(tr.penalty), "backward": backward, "update": update,
        "optimizer_state": {"t": state.t, "slots": {k: [clean(a) for a in v]
                                                    for k, v in state.slots.items()}},
        "observations_shown": len(rows), "observations_total": tr.batch or len(rows),
        "sampled": sampled(tr, out),
    }


def phase_out(s: Session, v: StepperView) -> dict[str, Any]:
    """Return the stepper state and every matrix computed so far."""
    tr = v.trace
    computed: dict[str, Any] = {"forward": [], "backward": []}
    for layer in v.forward_layers():
        f = tr.forward[layer - 1]
        computed["forward"].append({"layer": layer, "z": clean(f.z), "a": clean(f.a)})
    if v.has("loss"):
        computed["loss"] = number(tr.loss)
        computed["loss_per_observation"] = clean(tr.loss_per_observation)
    for layer in v.backward_layers():
        b = tr.backward_for(layer)
        computed["backward"].append({
            "layer": layer, "dloss_da": clean(b.dloss_da), "da_dz": clean(b.da_dz),
            "delta": clean(b.delta), "grad_weights": clean(b.grad_weights),
            "grad_biases": clean(b.grad_biases)})
    if v.has("update"):
        computed["update"] = [{"transition": u.transition, "weights": clean(u.new.weights),
                               "biases": clean(u.new.biases)} for u in tr.update]
    return {
        "position": v.position, "phases": [p.label for p in v.phases],
        "just_computed": v.just_computed.label if v.just_computed else None,
        "next": v.next.label if v.next else None, "complete": v.complete,
        "step": s.progress.step, "computed": computed, **_shown(s, tr),
    }


def diagnostics_out(s: Session, check: GradientCheck, symmetry: tuple[LayerSymmetry, ...],
                    activity: tuple[LayerActivity, ...],
                    gradients: tuple[LayerGradient, ...], tr: Trace | None = None
                    ) -> dict[str, Any]:
    """Return every diagnostic as JSON-ready data (`tr`: the trace they were taken from,
    whose observations they cover)."""
    return {
        "step": s.progress.step, **(_shown(s, tr) if tr is not None else {}),
        "gradient_check": {
            "epsilon": check.epsilon, "checked": check.checked, "total": check.total,
            "sampled": check.checked < check.total, "seed": costs.GRADCHECK_SEED,
            "max_relative_error": number(check.max_relative_error),
            "entries": [{"transition": e.transition, "kind": e.kind, "index": list(e.index),
                         "analytic": number(e.analytic), "numeric": number(e.numeric),
                         "relative_error": number(e.relative_error)} for e in check.entries],
        },
        "symmetry": {
            "layers": [{"layer": y.layer, "width": y.width, "effective_width": y.effective_width,
                        "groups": [list(g) for g in y.groups], "message": y.message}
                       for y in symmetry],
            "symmetric": any(y.groups for y in symmetry),
            "explanation": SYMMETRY_EXPLANATION,
        },
        "activity": [{"layer": a.layer, "activation": a.activation,
                      "saturated": list(a.saturated), "saturated_fraction": a.saturated_fraction,
                      "dead": list(a.dead)} for a in activity],
        "gradients": [{"layer": g.layer, "gradient_norm": number(g.gradient_norm),
                       "bias_gradient_norm": number(g.bias_gradient_norm),
                       "weight_norm": number(g.weight_norm),
                       "update_ratio": number(g.update_ratio)} for g in gradients],
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "status": s.status,
    }
