"""The network column: layers and neurons, activations, initialisation, breaking the
symmetry, and weights set one at a time (the inspector) or as a typed matrix (Setup).
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.sessions.errors import ServiceError
from app.sessions.model import Session

from . import forms
from .format import sup
from .panels import (
    EVERY,
    Fields,
    Service,
    apply_edit,
    error_html,
    notes,
    render_parts,
    request_prefs,
    slot_for,
)

router = APIRouter(include_in_schema=False)


@router.post("/s/{session_id}/arch")
def edit_architecture(session_id: str, request: Request, service: Service,
                      form: Fields) -> HTMLResponse:
    """Add or remove layers or neurons, change an activation, or every size at once."""
    s = service.get(session_id)
    slot = "layers" if form.get("action") == "size" else "arch"
    try:
        changes = _arch_changes(s, form)
    except ServiceError as err:
        return error_html(err, slot_for(err.field, slot))
    return apply_edit(request, service, session_id, changes, slot, form,
                      toast=redrawn(s, changes.get("layers")))


def redrawn(s: Session, layers: list[int] | None) -> str:
    """Return what a change of sizes does to the weights, in words ("" when nothing)."""
    if layers is None or list(layers) == list(s.spec.layers):
        return ""
    old = s.spec.shapes()
    new = [(a, b) for a, b in itertools.pairwise(layers)]
    changed = [t for t, shape in enumerate(new) if t >= len(old) or old[t] != shape]
    names = ", ".join(f"w{sup(t)}" for t in changed)
    scheme = s.spec.init.scheme
    if len(new) == len(old):
        return (f"{names} resized: their weights are kept, the new ones drawn from {scheme}. "
                "Undo (↶) brings the old sizes back.")
    return (f"{names} drawn afresh from {scheme} (the layers around them changed). "
            "Undo (↶) brings the old network back.")


def _arch_changes(s: Session, form: dict[str, Any]) -> dict[str, Any]:
    layers = list(s.spec.layers)
    acts = list(s.spec.transition_activations)
    action = form.get("action")
    if action == "neuron":
        l = int(forms.number(form.get("layer"), "arch", integer=True, low=1,
                             high=len(layers) - 2))
        layers[l] = max(1, layers[l] + int(forms.number(form.get("delta"), "arch",
                                                        integer=True)))
    elif action == "add_layer":
        layers.insert(len(layers) - 1, layers[-2] if len(layers) > 2 else 3)
        acts.insert(len(acts) - 1, acts[-2] if len(acts) > 1 else s.spec.hidden_activation)
    elif action == "remove_layer":
        l = int(forms.number(form.get("layer"), "arch", integer=True, low=1,
                             high=len(layers) - 2))
        del layers[l]
        del acts[l - 1]
    elif action == "activation":
        l = int(forms.number(form.get("layer"), "arch", integer=True, low=1,
                             high=len(layers) - 1))
        acts[l - 1] = str(form.get("activation"))
    elif action == "size":
        layers = forms.layer_sizes(str(form.get("layers", "")))
        acts = [acts[i] if i < len(acts) - 1 else s.spec.hidden_activation
                for i in range(len(layers) - 2)] + [acts[-1]]
    else:
        raise ServiceError(422, "invalid", "unknown architecture action.", "arch")
    changes: dict[str, Any] = {"layers": layers, "activations": acts}
    if layers[0] != s.spec.layers[0]:
        changes["inputs"] = forms.fit_columns(s.inputs.tolist(), layers[0])
    if layers[-1] != s.spec.layers[-1]:
        changes["targets"] = forms.fit_columns(s.targets.tolist(), layers[-1])
    return changes


def _init_of(form: dict[str, Any], slot: str) -> dict[str, Any]:
    """Return an initialisation read from a form: the scheme and the fields it sent."""
    init: dict[str, Any] = {"scheme": str(form.get("scheme", "xavier_uniform"))}
    init["seed"] = int(forms.number(form.get("seed", 0), slot or "init-seed", integer=True,
                                    low=0))
    for name in ("bias", "value", "gain", "low", "high", "mean", "std"):
        if name in form and str(form[name]).strip() != "":
            init[name] = forms.number(form[name], slot or f"init-{name}")
    return init


@router.post("/s/{session_id}/init")
def reinitialize(session_id: str, request: Request, service: Service,
                 form: Fields) -> HTMLResponse:
    """Re-initialise with the form's scheme, its fields, seed and bias."""
    prefs = request_prefs(request, form)
    try:
        s = service.reinitialize(session_id, _init_of(form, ""))
    except ServiceError as err:
        if err.status == 404:
            raise
        slot = err.field if err.field and err.field.startswith("init-") else slot_for(
            err.field, "init")
        return error_html(err, slot)
    return render_parts(request, service, s, prefs, EVERY,
                        notes=notes(toast=f"Re-initialised ({s.spec.init.scheme}): step 0."))


@router.post("/s/{session_id}/break-symmetry")
def break_symmetry(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Re-initialise randomly (the chosen scheme) to break the symmetry."""
    prefs = request_prefs(request, form)
    try:
        init = _init_of(form, "break")
        s = service.reinitialize(session_id, init)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "break")
    return render_parts(request, service, s, prefs, EVERY, notes=notes(
        toast=f"Symmetry broken: {init['scheme']}, seed {init['seed']}. Press Play or Fit."))


@router.post("/s/{session_id}/weights")
def set_weights(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Set one transition's weights (and biases) from the typed matrix (Setup)."""
    s = service.get(session_id)
    try:
        t = int(forms.number(form.get("transition"), "weights", integer=True, low=0,
                             high=s.spec.transitions - 1))
        fan_in, fan_out = s.spec.shapes()[t]
        text = str(form.get(f"matrix-{t}", ""))
        if form.get("augmented") == "1":
            rows = forms.matrix(text, "weights", (fan_in + 1, fan_out))
            entry = {"weights": rows[1:], "biases": rows[0]}
        else:
            entry = {"weights": forms.matrix(text, "weights", (fan_in, fan_out)),
                     "biases": forms.matrix(str(form.get(f"biases-{t}", "")), "weights",
                                            (1, fan_out))[0]}
    except ServiceError as err:
        return error_html(err, "weights")
    params: list[Any] = [None] * s.spec.transitions
    params[t] = entry
    return apply_edit(request, service, session_id, {"parameters": params}, "weights", form)


@router.post("/s/{session_id}/param")
def set_param(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Set one weight or bias (from the inspector)."""
    try:
        cell = {"transition": int(forms.number(form.get("transition"), "param", integer=True,
                                               low=0)),
                "kind": "biases" if form.get("kind") == "biases" else "weights",
                "row": int(forms.number(form.get("row", 0), "param", integer=True, low=0)),
                "column": int(forms.number(form.get("column"), "param", integer=True, low=0)),
                "value": forms.number(form.get("value"), "param")}
    except ServiceError as err:
        return error_html(err, "param")
    return apply_edit(request, service, session_id, {"cells": [cell]}, "param", form)
