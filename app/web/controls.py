"""The control bar: Step, Play, Pause and Fit, reset, undo and redo, the phase stepper,
and the training settings (learning rate, activation, loss, optimiser and its details).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import forms
from .output import FIT_TOLERANCE
from .panels import (
    EVERY,
    RESULTS,
    Fields,
    FormFields,
    Service,
    apply_edit,
    error_html,
    notes,
    render_parts,
    request_prefs,
)

router = APIRouter(include_in_schema=False)
LOSS_OUTPUTS = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax"}  # what each needs


@router.post("/s/{session_id}/step")
def step(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train n iterations (Step, ×10, ×100, ×1000)."""
    prefs = request_prefs(request, form)
    try:
        n = int(forms.number(request.query_params.get("n", 1), "step", integer=True, low=1))
        outcome = service.step(session_id, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "step")
    s = outcome.session
    toast = ""
    if outcome.truncated:
        toast = (f"Ran {outcome.iterations_run:,} of {n:,} iterations (the time budget of one "
                 "request); press again to continue.")
    elif s.status == "diverged" and s.divergence:
        toast = f"Diverged at step {s.divergence.step}: training paused."
    return render_parts(request, service, s, prefs, RESULTS, notes=notes(toast=toast))


@router.post("/s/{session_id}/play")
def play(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Play, Fit (play until every output is within FIT_TOLERANCE of its target) or Pause.

    The tab's live stream trains while the session plays (app/web/play.py); this only
    says whether it does, for every tab.
    """
    prefs = request_prefs(request, form)
    action = str(form.get("action", "play"))
    try:
        if action == "pause":
            s = service.set_playing(session_id, False)
            return render_parts(request, service, s, prefs, EVERY)
        until = FIT_TOLERANCE if action == "fit" else None
        s = service.set_playing(session_id, True, until=until)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "step")
    return render_parts(request, service, s, prefs, ["controls"])


@router.post("/s/{session_id}/reset")
def reset(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Go back to the initial parameters and step 0."""
    s = service.reset(session_id)
    return render_parts(request, service, s, request_prefs(request, form), EVERY,
                        notes=notes(toast="Reset to the initial parameters: step 0."))


@router.post("/s/{session_id}/phase")
def phase(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Advance the phase stepper one phase (or start over)."""
    action = str(form.get("action", "next"))
    s, _ = service.advance_phase(session_id, "restart" if action == "restart" else "next")
    return render_parts(request, service, s, request_prefs(request, form), RESULTS)


@router.post("/s/{session_id}/undo")
def undo(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Undo the last edit or training run."""
    return _travel(session_id, request, service, service.undo, form)


@router.post("/s/{session_id}/redo")
def redo(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Redo what undo took back."""
    return _travel(session_id, request, service, service.redo, form)


def _travel(session_id: str, request: Request, service: SessionService, move: Any,
            form: FormFields) -> HTMLResponse:
    try:
        s = move(session_id)
    except ServiceError as err:
        if err.status == 404:
            raise
        return HTMLResponse(notes(toast=err.message), headers={"HX-Reswap": "none"})
    return render_parts(request, service, s, request_prefs(request, form), EVERY)


@router.post("/s/{session_id}/settings")
def edit_settings(session_id: str, request: Request, service: Service,
                  form: Fields) -> HTMLResponse:
    """Change the control bar's settings: learning rate, hidden activation, loss, optimiser."""
    s = service.get(session_id)
    try:
        changes = _settings_changes(s, form)
    except ServiceError as err:
        return error_html(err, err.field or "settings")
    return apply_edit(request, service, session_id, changes, "settings", form)


def _settings_changes(s: Session, form: FormFields) -> dict[str, Any]:
    """Return the changes the control bar's form asks for (only what differs)."""
    changes: dict[str, Any] = {}
    opt = s.spec.optimizer
    lr = forms.number(form.get("learning_rate", opt.learning_rate),
                      "optimizer-learning_rate")
    name = str(form.get("optimizer") or opt.name)
    if lr != opt.learning_rate or name != opt.name:
        changes["optimizer"] = {"name": name, "learning_rate": lr}
    acts = list(s.spec.transition_activations)
    hidden = str(form.get("hidden_activation") or "")
    if hidden and any(a != hidden for a in acts[:-1]):
        changes["activations"] = [hidden] * (len(acts) - 1) + [acts[-1]]
    loss = str(form.get("loss") or s.spec.loss)
    if loss != s.spec.loss:
        changes["loss"] = loss
        out = changes.get("activations", acts)
        if loss in LOSS_OUTPUTS:
            changes["activations"] = [*out[:-1], LOSS_OUTPUTS[loss]]
    return changes


@router.post("/s/{session_id}/optimizer")
def edit_optimizer(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Change the optimiser's hyper-parameters, the batch size or the penalty (Setup)."""
    s = service.get(session_id)
    try:
        opt: dict[str, Any] = {"name": str(form.get("name", s.spec.optimizer.name))}
        for name in ("learning_rate", "momentum", "rho", "beta1", "beta2", "epsilon"):
            if name in form:
                opt[name] = forms.number(form[name], f"optimizer-{name}")
        if "nesterov" in form:
            opt["nesterov"] = form["nesterov"] == "1"
        batch = str(form.get("batch_size", "")).strip()
        reg = {"kind": str(form.get("reg_kind", "none")),
               "rate": forms.number(form.get("reg_rate", 0), "regularization-rate")}
        changes = {"optimizer": opt, "regularization": reg,
                   "batch_size": None if batch in ("", "all") else int(
                       forms.number(batch, "batch_size", integer=True, low=1))}
    except ServiceError as err:
        return error_html(err, err.field or "optimizer")
    return apply_edit(request, service, session_id, changes, "optimizer", form)
