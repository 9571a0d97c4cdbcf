"""Engine objects → JSON-ready dicts, with non-finite numbers sent as null."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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
from app.sessions.model import Session
from app.sessions.service import SessionService


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
    """Return the session as the API shows it."""
    train_acc, test_acc = service.accuracies(s)
    return {
        "id": s.id, "version": s.version, "title": s.title, "example": s.example,
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


def trace_out(s: Session, tr: Trace, augmented: bool) -> dict[str, Any]:
    """Return the trace as DESIGN.md's forward / loss / backward / update."""
    n = s.inputs.shape[0]
    rows = list(range(n)) if tr.rows is None else [int(i) for i in tr.rows]
    forward = []
    for f in tr.forward:
        entry = {"layer": f.layer, "activation": f.activation, "z": clean(f.z), "a": clean(f.a)}
        if augmented:
            entry["input_augmented"] = clean(f.augmented_input())
        forward.append(entry)
    backward = []
    for b in tr.backward:
        entry = {"layer": b.layer, "dloss_da": clean(b.dloss_da), "da_dz": clean(b.da_dz),
                 "delta": clean(b.delta), "combined": b.combined,
                 "grad_weights": clean(b.grad_weights), "grad_biases": clean(b.grad_biases),
                 "dloss_da_below": clean(b.dloss_da_below)}
        if augmented:
            entry["grad_augmented"] = clean(b.augmented_gradient())
        backward.append(entry)
    update = []
    for u in tr.update:
        entry = {"transition": u.transition,
                 "gradient_weights": clean(u.gradient.weights),
                 "gradient_biases": clean(u.gradient.biases),
                 "penalty_gradient": clean(u.penalty_gradient),
                 "step_weights": clean(u.step.weights), "step_biases": clean(u.step.biases),
                 "weights": clean(u.new.weights), "biases": clean(u.new.biases)}
        if augmented:
            entry["augmented"] = clean(u.new.augmented())
        update.append(entry)
    state = tr.state_after
    return {
        "step": s.progress.step, "observations": rows, "forward": forward,
        "loss": number(tr.loss), "loss_per_observation": clean(tr.loss_per_observation),
        "penalty": number(tr.penalty), "backward": backward, "update": update,
        "optimizer_state": {"t": state.t, "slots": {k: [clean(a) for a in v]
                                                    for k, v in state.slots.items()}},
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
        "step": s.progress.step, "computed": computed,
    }


def diagnostics_out(s: Session, check: GradientCheck, symmetry: tuple[LayerSymmetry, ...],
                    activity: tuple[LayerActivity, ...],
                    gradients: tuple[LayerGradient, ...]) -> dict[str, Any]:
    """Return every diagnostic as JSON-ready data."""
    return {
        "step": s.progress.step,
        "gradient_check": {
            "epsilon": check.epsilon, "checked": check.checked, "total": check.total,
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
