"""HTML routes: full pages, and HTMX fragments swapped out-of-band by panel id.

Every handler calls the same session service as the JSON API, then renders named blocks
of `session.html` (jinja2-fragments): the markup of a panel exists once. A form error is
a 422 carrying the message into the error slot beside the field (`err-<name>`), and
nothing else changes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2_fragments import render_blocks
from markupsafe import escape

from app.api.sessions import get_service
from app.engine.trace import with_ones
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import context, forms, matrices, recipes
from .format import num
from .templating import environment

Service = Annotated[SessionService, Depends(get_service)]
router = APIRouter(include_in_schema=False)

EVERY = ("toolbar", "banners", "plane", "diagram", "loss", "data", "architecture", "init",
         "training", "stepper", "walkthrough", "matrices", "diagnostics", "distributions",
         "check", "share")
RESULTS = ("toolbar", "banners", "plane", "diagram", "loss", "stepper", "walkthrough",
           "matrices", "diagnostics", "distributions")
FRAME_SECONDS = 0.025  # training per frame of play: ~20 frames/s with rendering and swapping
HEAVY_EVERY = 5  # matrices, walkthrough and diagnostics refresh every 5th frame of play


def _values(request: Request, form: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = dict(request.query_params)
    values.update(form or {})
    return values


class FormFields(dict[str, Any]):
    """A posted form: the last value of each field (a checkbox's "1" follows its hidden
    "0"), and every value of repeated fields through `getlist`."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self._lists: dict[str, list[Any]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)

    def getlist(self, key: str) -> list[Any]:
        """Return every value posted under `key`."""
        return list(self._lists.get(key, []))


async def form_fields(request: Request) -> FormFields:
    """Read the form (the only async part); handlers then run in the thread pool."""
    if request.method != "POST":
        return FormFields([])
    data = await request.form()
    return FormFields(list(data.multi_items()))


Fields = Annotated[FormFields, Depends(form_fields)]


def _page(request: Request, service: SessionService, s: Session,
          view: context.View) -> HTMLResponse:
    ctx = context.build(service, s, view, str(request.base_url).rstrip("/"))
    html = environment().get_template("session.html").render(
        **ctx, mx=_macros(), title=s.title or "Network", oob=False, playing=False, frame=0,
        rate="")
    return HTMLResponse(html)


def _macros() -> Any:
    return environment().get_template("partials/macros.html").module


def _panels(request: Request, service: SessionService, s: Session, view: context.View,
            blocks: Iterable[str], extra: str = "", status: int = 200,
            **more: Any) -> HTMLResponse:
    blocks = list(blocks)
    ctx = context.build(service, s, view, str(request.base_url).rstrip("/"), blocks)
    html = render_blocks(environment(), "session.html", blocks, **ctx, mx=_macros(),
                         oob=True, **{"playing": False, "frame": 0, "rate": "", **more})
    return HTMLResponse(html + extra, status_code=status)


def slot_for(field: str | None, default: str) -> str:
    """Return the error slot of a service field name (`optimizer.learning_rate` → …)."""
    if not field:
        return default
    cell = re.fullmatch(r"(inputs|targets)\[(\d+)\]\[(\d+)\]", field)
    if cell:
        return f"{cell[1]}-{cell[2]}-{cell[3]}"
    if field.startswith("layers"):
        return "layers"
    known = {"init.seed", "init.bias", "init.value", "init.gain", "init.low", "init.high",
             "init.mean", "init.std", "optimizer.name", "optimizer.learning_rate",
             "optimizer.momentum", "optimizer.rho", "optimizer.beta1", "optimizer.beta2",
             "optimizer.epsilon", "batch_size", "regularization.rate", "loss"}
    return field.replace(".", "-") if field in known else default


def error_html(err: ServiceError, slot: str) -> HTMLResponse:
    """Return the 422 that puts the message beside the field (and in the toast)."""
    message = escape(err.message)
    body = (f'<span class="field-error" id="err-{slot}" hx-swap-oob="true" role="alert">'
            f"{message}</span>"
            f'<div id="toast" hx-swap-oob="true" role="status" aria-live="polite" '
            f'class="show error">{message}</div>')
    return HTMLResponse(body, status_code=422 if err.status < 500 else err.status,
                        headers={"HX-Reswap": "none"})


def _clear(slot: str) -> str:
    return f'<span class="field-error" id="err-{slot}" hx-swap-oob="true"></span>'


def _toast(text: str) -> str:
    return (f'<div id="toast" hx-swap-oob="true" role="status" aria-live="polite" '
            f'class="show">{escape(text)}</div>')


def _redirect(request: Request, url: str) -> Response:
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------- pages
@router.get("/", response_class=HTMLResponse)
def get_landing() -> HTMLResponse:
    """Show the landing page with the example gallery."""
    return HTMLResponse(environment().get_template("landing.html").render(
        title="See how a neural network learns"))


@router.post("/new")
def create_network(request: Request, service: Service, form: Fields) -> Response:
    """Create a session from an example card or the new-network form."""
    try:
        body = _new_body(form)
        s = service.create(body)
    except ServiceError as err:
        return error_html(err, "new")
    return _redirect(request, f"/s/{s.id}")


def _new_body(form: dict[str, Any]) -> dict[str, Any]:
    example = form.get("example", "")
    if form.get("dataset"):
        return {"dataset": {"name": str(form["dataset"]), "points": 250, "noise": 0.1},
                "title": str(form.get("title") or form["dataset"]).capitalize()}
    if example and example != "custom":
        return {"example": example}
    sizes = forms.layer_sizes(str(form.get("layers", "2-3-1")))
    inputs: list[list[float]]
    targets: list[list[float]]
    if sizes[0] == 2 and sizes[-1] == 1:
        inputs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
        targets = [[0.0], [1.0], [1.0], [0.0]]
    else:
        inputs, targets = [[0.0] * sizes[0]], [[0.0] * sizes[-1]]
    return {
        "layers": sizes, "title": str(form.get("title") or "My network"),
        "hidden_activation": form.get("hidden_activation", "sigmoid"),
        "output_activation": form.get("output_activation", "sigmoid"),
        "loss": form.get("loss", "sse"),
        "init": {"scheme": form.get("scheme", "xavier_uniform"),
                 "seed": int(forms.number(form.get("seed", 0), "seed", integer=True, low=0))},
        "optimizer": {"name": "sgd", "learning_rate": forms.number(
            form.get("learning_rate", 0.5), "learning_rate", low=1e-12)},
        "inputs": inputs, "targets": targets,
    }


@router.get("/r")
def open_recipe(request: Request, service: Service) -> Response:
    """Create a fresh session from a recipe link and open it (with its hidden controls)."""
    query = dict(request.query_params)
    try:
        body = recipes.to_body(query)
    except ValueError:
        raise ServiceError(422, "invalid", "This recipe link is damaged: a number in it does "
                           "not read as a number.") from None
    s = service.create(body)
    hide = ",".join(h for h in query.get("hide", "").split(",") if h in recipes.PANELS)
    return _redirect(request, f"/s/{s.id}" + (f"?v_hide={hide}" if hide else ""))


@router.get("/s/{session_id}/recipe", response_class=HTMLResponse)
def get_recipe_link(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Return the recipe link of a session, hiding the chosen controls."""
    s = service.get(session_id)
    if not recipes.shareable(s):
        return HTMLResponse('<p class="hint">Recipe links rebuild generated datasets; this '
                            "session's data was typed or uploaded, so share its session or "
                            "copy link instead.</p>")
    hide = [h for h in request.query_params.getlist("hide") if h in recipes.PANELS]
    url = f"{str(request.base_url).rstrip('/')}/r?{recipes.to_query(s, hide)}"
    link = escape(url)
    return HTMLResponse(f'<a href="{link}" id="recipe-url">Recipe link</a> '
                        f'<button type="button" class="linkish" data-copy="{link}">copy</button>'
                        f'<textarea readonly rows="3" aria-label="Recipe link">{link}</textarea>')


@router.get("/s/{session_id}", response_class=HTMLResponse)
def get_session_page(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Show the playground of a session (the session link: edits allowed)."""
    s = service.get(session_id)
    return _page(request, service, s, context.view_from(_values(request)))


@router.get("/s/{session_id}/view", response_class=HTMLResponse)
def get_readonly_page(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Show a session read-only."""
    s = service.get(session_id)
    return _page(request, service, s, context.view_from(_values(request), readonly=True))


@router.get("/s/{session_id}/copy")
def copy_session(session_id: str, request: Request, service: Service) -> Response:
    """Open a fresh copy of the session (the copy link)."""
    return _redirect(request, f"/s/{service.fork(session_id, None).id}")


@router.get("/s/{session_id}/panels")
def get_panels(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Re-render every panel (after a change of display preferences)."""
    values = _values(request)
    view = context.view_from(values, readonly=values.get("readonly") == "1")
    return _panels(request, service, service.get(session_id), view, EVERY)


@router.get("/s/{session_id}/sync")
def sync_session(session_id: str, request: Request, service: Service) -> Response:
    """Return every panel if the session moved on since `version` (another tab), else 204."""
    values = _values(request)
    s = service.get(session_id)
    if str(s.version) == str(values.get("version")):
        return Response(status_code=204)
    view = context.view_from(values, readonly=values.get("readonly") == "1")
    return _panels(request, service, s, view, EVERY)


# ---------------------------------------------------------------------------- edits
def _edit(request: Request, service: SessionService, session_id: str,
          changes: dict[str, Any], slot: str, form: FormFields,
          blocks: Iterable[str] = EVERY, clear: str = "") -> HTMLResponse:
    view = context.view_from(_values(request, form))
    try:
        s = service.patch(session_id, changes)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, slot_for(err.field, slot))
    return _panels(request, service, s, view, blocks, _clear(clear or slot))


@router.post("/s/{session_id}/cell")
def edit_data_cell(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Change one input or target cell (one load and one save, under the lock)."""
    kind = "targets" if form.get("kind") == "targets" else "inputs"
    try:
        r = int(forms.number(form.get("row"), "data", integer=True, low=0))
        c = int(forms.number(form.get("column"), "data", integer=True, low=0))
        slot = f"{kind}-{r}-{c}"
        value = forms.number(form.get("value"), slot)
    except ServiceError as err:
        return error_html(err, err.field if err.field and "-" in err.field else "data")
    blocks = [b for b in EVERY if b != "data"]  # keep focus in the grid
    cell = {"kind": kind, "row": r, "column": c, "value": value}
    return _edit(request, service, session_id, {"data_cells": [cell]}, slot, form, blocks)


@router.post("/s/{session_id}/rows")
def edit_rows(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Add an observation (zeros) or remove one."""
    s = service.get(session_id)
    inputs, targets = s.inputs.tolist(), s.targets.tolist()
    if form.get("action") == "remove":
        try:
            r = int(forms.number(form.get("row"), "data", integer=True, low=0,
                                 high=len(inputs) - 1))
        except ServiceError as err:
            return error_html(err, "data")
        if len(inputs) == 1:
            return error_html(ServiceError(422, "invalid", "a network needs at least one "
                                           "observation.", "data"), "data")
        del inputs[r], targets[r]
    else:
        inputs.append([0.0] * s.inputs.shape[1])
        targets.append([0.0] * s.targets.shape[1])
    return _edit(request, service, session_id, {"inputs": inputs, "targets": targets},
                 "data", form)


@router.post("/s/{session_id}/paste")
def paste_data(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Replace the data with pasted CSV/TSV rows (inputs then targets)."""
    s = service.get(session_id)
    n_in, n_out = s.spec.layers[0], s.spec.layers[-1]
    try:
        rows = forms.rows_of(str(form.get("text", "")), "paste")
        if not rows:
            raise ServiceError(422, "invalid", "paste at least one row.", "paste")
        for i, row in enumerate(rows):
            if len(row) != n_in + n_out:
                raise ServiceError(422, "invalid", f"row {i + 1} has {len(row)} numbers; each "
                                   f"row needs {n_in} inputs and {n_out} targets "
                                   f"({n_in + n_out}).", "paste", n_in + n_out)
    except ServiceError as err:
        return error_html(err, "paste")
    changes = {"inputs": [r[:n_in] for r in rows], "targets": [r[n_in:] for r in rows]}
    return _edit(request, service, session_id, changes, "paste", form)


@router.post("/s/{session_id}/arch")
def edit_architecture(session_id: str, request: Request, service: Service,
                      form: Fields) -> HTMLResponse:
    """Add/remove layers or neurons, change activations, the loss, or all sizes at once."""
    s = service.get(session_id)
    try:
        changes = _arch_changes(s, form)
    except ServiceError as err:
        return error_html(err, slot_for(err.field, "arch"))
    return _edit(request, service, session_id, changes, "arch", form,
                       clear="layers" if form.get("action") == "size" else "arch")


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
    elif action == "loss":
        return _loss_changes(s, str(form.get("loss")))
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


def _loss_changes(s: Session, loss: str) -> dict[str, Any]:
    """Return the change to `loss`, with the output activation it needs (a convenience)."""
    acts = list(s.spec.transition_activations)
    needs = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax"}
    if loss in needs:
        acts[-1] = needs[loss]
    elif acts[-1] == "softmax" and loss in ("sse", "mse"):
        pass  # softmax with squared error is allowed (its Jacobian is applied in full)
    return {"loss": loss, "activations": acts}


@router.post("/s/{session_id}/dataset")
def edit_dataset(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Regenerate the 2-D dataset: name, noise, test share, points, seed, features."""
    data = form
    try:
        recipe: dict[str, Any] = {"name": str(data.get("name", "circle")),
                                  "features": [str(f) for f in data.getlist("features")]}
        if not recipe["features"]:
            raise ServiceError(422, "invalid", "choose at least one input feature.", "dataset")
        recipe["noise"] = forms.number(data.get("noise", 0), "dataset", low=0, high=50) / 100
        recipe["test_ratio"] = forms.number(data.get("test_ratio", 50), "dataset", low=10,
                                            high=90) / 100
        recipe["points"] = int(forms.number(data.get("points", 200), "dataset", integer=True,
                                            low=4))
        recipe["seed"] = int(forms.number(data.get("seed", 0), "dataset", integer=True, low=0))
        if data.get("classes"):
            recipe["classes"] = int(forms.number(data.get("classes"), "dataset", integer=True,
                                                 low=3, high=8))
    except ServiceError as err:
        return error_html(err, "dataset")
    return _edit(request, service, session_id, {"dataset": recipe}, "dataset", form)


@router.post("/s/{session_id}/init")
def reinitialize(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Re-initialise with the form's scheme, parameters, seed and bias."""
    view = context.view_from(_values(request, form))
    try:
        init: dict[str, Any] = {"scheme": str(form.get("scheme", "xavier_uniform"))}
        init["seed"] = int(forms.number(form.get("seed", 0), "init-seed", integer=True, low=0))
        for name in ("bias", "value", "gain", "low", "high", "mean", "std"):
            if name in form and str(form[name]).strip() != "":
                init[name] = forms.number(form[name], f"init-{name}")
        s = service.reinitialize(session_id, init)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, err.field.replace(".", "-") if err.field and err.field.startswith(
            "init-") else slot_for(err.field, "init"))
    return _panels(request, service, s, view, EVERY, _toast("Re-initialised: step 0."))


@router.post("/s/{session_id}/break-symmetry")
def break_symmetry(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Re-initialise randomly (the chosen scheme) to break the symmetry."""
    view = context.view_from(_values(request, form))
    try:
        init = {"scheme": str(form.get("scheme", "xavier_uniform")),
                "seed": int(forms.number(form.get("seed", 0), "break", integer=True, low=0)),
                "bias": forms.number(form.get("bias", 0), "break")}
        s = service.reinitialize(session_id, init)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "break")
    return _panels(request, service, s, view, EVERY,
                   _toast(f"Symmetry broken: {init['scheme']}, seed {init['seed']}."))


@router.post("/s/{session_id}/reset")
def reset(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Go back to the initial parameters and step 0."""
    s = service.reset(session_id)
    return _panels(request, service, s, context.view_from(_values(request, form)), EVERY,
                   _toast("Reset to the initial parameters: step 0."))


@router.post("/s/{session_id}/weights")
def set_weights(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Set one transition's weights (and biases) from the matrix editor."""
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
    return _edit(request, service, session_id, {"parameters": params}, "weights", form)


@router.get("/s/{session_id}/param-editor", response_class=HTMLResponse)
def param_editor(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Return the small form that edits one weight or bias (from a click on the diagram)."""
    s = service.get(session_id)
    q = request.query_params
    try:
        t = int(forms.number(q.get("transition"), "transition", integer=True, low=0,
                             high=s.spec.transitions - 1))
        fan_in, fan_out = s.spec.shapes()[t]
        kind = "biases" if q.get("kind") == "biases" else "weights"
        col = int(forms.number(q.get("column"), "column", integer=True, low=0, high=fan_out - 1))
        row = int(forms.number(q.get("row", 0), "row", integer=True, low=0, high=fan_in - 1))
    except ServiceError as err:
        return error_html(err, "param")
    value = (s.parameters[t].biases[col] if kind == "biases"
             else s.parameters[t].weights[row, col])
    html = environment().get_template("partials/param_editor.html").render(
        sid=s.id, transition=t, kind=kind, row=row, column=col, value=repr(float(value)),
        mx=_macros())
    return HTMLResponse(html)


@router.post("/s/{session_id}/param")
def set_param(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Set one weight or bias."""
    try:
        cell = {"transition": int(forms.number(form.get("transition"), "param", integer=True,
                                               low=0)),
                "kind": "biases" if form.get("kind") == "biases" else "weights",
                "row": int(forms.number(form.get("row", 0), "param", integer=True, low=0)),
                "column": int(forms.number(form.get("column"), "param", integer=True, low=0)),
                "value": forms.number(form.get("value"), "param")}
    except ServiceError as err:
        return error_html(err, "param")
    form_view = context.view_from(_values(request, form))
    try:
        s = service.patch(session_id, {"cells": [cell]})
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "param")
    closed = '<div id="cell-editor" hx-swap-oob="true" aria-live="polite"></div>'
    return _panels(request, service, s, form_view, EVERY, _clear("param") + closed)


@router.post("/s/{session_id}/optimizer")
def edit_optimizer(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Change the optimiser, its hyper-parameters, the batch size or the penalty."""
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
    blocks = EVERY if opt["name"] != s.spec.optimizer.name else [
        b for b in EVERY if b != "training"]
    return _edit(request, service, session_id, changes, "optimizer", form, blocks)


# ---------------------------------------------------------------------------- training
@router.post("/s/{session_id}/step")
def step(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train n iterations (Step, ×10, ×100, ×1000)."""
    view = context.view_from(_values(request, form))
    try:
        n = int(forms.number(request.query_params.get("n", 1), "step", integer=True, low=1))
        outcome = service.step(session_id, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "step")
    s = outcome.session
    note = ""
    if outcome.truncated:
        note = _toast(f"Ran {outcome.iterations_run:,} of {n:,} iterations (the time budget of "
                      f"one request); press again to continue.")
    elif s.status == "diverged" and s.divergence:
        note = _toast(f"Diverged at step {s.divergence.step}: training paused.")
    return _panels(request, service, s, view, RESULTS, _clear("step") + note)


@router.post("/s/{session_id}/play")
def play(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train one frame of play and return the refreshed panels and the next frame."""
    view = context.view_from(_values(request, form))
    frame = int(forms.number(form.get("frame", 0), "frame", integer=True, low=0))
    started = time.perf_counter()
    outcome = service.play_frame(session_id, FRAME_SECONDS, start=frame == 0)
    if outcome is None:
        return _panels(request, service, service.get(session_id), view,
                       ("player", "toolbar", "banners"))
    s = outcome.session
    heavy = frame % HEAVY_EVERY == 0
    blocks = ["player", "toolbar", "banners", "plane", "diagram", "loss"]
    if heavy:
        blocks += ["stepper", "walkthrough", "matrices", "diagnostics", "distributions"]
    elapsed = time.perf_counter() - started
    rate = f"{outcome.iterations_run / max(elapsed, 1e-6):,.0f} iterations/s"
    return _panels(request, service, s, view, blocks, playing=s.playing, frame=frame,
                   rate=rate)


@router.post("/s/{session_id}/pause")
def pause(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Stop playing (in every tab)."""
    s = service.set_playing(session_id, False)
    return _panels(request, service, s, context.view_from(_values(request, form)), EVERY)


@router.post("/s/{session_id}/phase")
def phase(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Advance the phase stepper one phase (or start over)."""
    action = str(form.get("action", "next"))
    if action not in ("next", "restart"):
        action = "next"
    s, _ = service.advance_phase(session_id, action)
    return _panels(request, service, s, context.view_from(_values(request, form)), RESULTS)


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
        return HTMLResponse(_toast(err.message), headers={"HX-Reswap": "none"})
    return _panels(request, service, s, context.view_from(_values(request, form)), EVERY)


# ---------------------------------------------------------------------------- tools
@router.post("/s/{session_id}/check", response_class=HTMLResponse)
def check(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Check a hand-computed matrix; return the verdict table."""
    view = context.view_from(_values(request, form))
    s = service.get(session_id)
    try:
        quantity = str(form.get("quantity", "a"))
        if quantity not in ("z", "a", "dloss_da", "da_dz", "delta", "grad_weights",
                            "grad_biases", "update"):
            raise ServiceError(422, "invalid", "unknown quantity.", "check")
        layer = int(forms.number(form.get("layer", 1), "check", integer=True, low=1))
        tolerance = forms.number(form.get("tolerance", "5e-8"), "check", low=1e-15, high=1)
        values = forms.rows_of(str(form.get("values", "")), "check")
        if not values:
            raise ServiceError(422, "invalid", "type or paste your matrix first.", "check")
        result = service.check(s, quantity, layer, values, tolerance)
    except ServiceError as err:
        if err.status == 404:
            raise
        return HTMLResponse(f'<p class="field-error" role="alert">{escape(err.message)}</p>',
                            status_code=422)
    return HTMLResponse(environment().get_template("partials/check_result.html").render(
        r=result, view=view, num=num, rows=range(result.expected.shape[0]),
        cols=range(result.expected.shape[1])))


@router.get("/s/{session_id}/copy/{key}.{fmt}", response_class=HTMLResponse)
def copy_matrix(session_id: str, key: str, fmt: str, request: Request,
                service: Service) -> HTMLResponse:
    """Return a matrix as NumPy, CSV or LaTeX text in a small copy dialog."""
    s = service.get(session_id)
    view = context.view_from(_values(request))
    m = _matrix_for(service, s, key, view)
    if m is None or fmt not in ("numpy", "csv", "latex"):
        raise ServiceError(404, "not_found", "No such matrix.")
    name = re.sub(r"\W", "_", key)
    text = {"numpy": lambda: "import numpy as np\n" + matrices.as_numpy(m, name),
            "csv": lambda: matrices.as_csv(m),
            "latex": lambda: matrices.as_latex(m, view.decimals)}[fmt]()
    return HTMLResponse(environment().get_template("partials/copy_dialog.html").render(
        key=key, fmt=fmt, text=text))


def _matrix_for(service: SessionService, s: Session, key: str,
                view: context.View) -> np.ndarray | None:
    tr = service.trace_of(s)
    match = re.fullmatch(r"([a-z_]+)(?:-([a-z0-9]+))?-(\d+)", key)
    if not match:
        return None
    kind, slot, index = match[1], match[2], int(match[3])
    aug = view.augmented
    L = s.spec.transitions
    if kind in ("w", "ug", "us", "un", "slot") and not 0 <= index < L:
        return None
    if kind in ("z", "a", "dloss_da", "da_dz", "delta", "grad", "prevT") and not 1 <= index <= L:
        return None

    def stack(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = np.vstack([b[None, :], w]) if aug else w
        return m.T if view.transpose else m

    if kind in ("z", "a"):
        found: np.ndarray = getattr(tr.forward[index - 1], kind)
        return found
    if kind in ("dloss_da", "da_dz", "delta"):
        chosen: np.ndarray | None = getattr(tr.backward_for(index), kind)
        return chosen
    if kind == "grad":
        b = tr.backward_for(index)
        return stack(b.grad_weights, b.grad_biases)
    if kind == "prevT":
        return with_ones(tr.forward[index - 1].input).T
    if kind == "w":
        return stack(s.parameters[index].weights, s.parameters[index].biases)
    u = tr.update[index]
    if kind == "ug":
        return stack(u.gradient.weights, u.gradient.biases)
    if kind == "us":
        return stack(u.step.weights, u.step.biases)
    if kind == "un":
        return stack(u.new.weights, u.new.biases)
    if kind == "slot" and slot in tr.state_after.slots:
        arrays = tr.state_after.slots[slot]
        return stack(arrays[2 * index], arrays[2 * index + 1])
    return None


@router.post("/s/{session_id}/compare")
def compare(session_id: str, request: Request, service: Service, form: Fields) -> Response:
    """Fork with another initialisation and open both side by side."""
    try:
        init = {"scheme": str(form.get("scheme", "xavier_uniform")),
                "seed": int(forms.number(form.get("seed", 0), "compare", integer=True, low=0)),
                "bias": forms.number(form.get("bias", 0), "compare")}
        other = service.fork(session_id, {"init": init, "reinitialize": True})
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "compare")
    return _redirect(request, f"/compare/{session_id}/{other.id}")


@router.get("/compare/{a}/{b}", response_class=HTMLResponse)
def compare_page(a: str, b: str, request: Request, service: Service) -> HTMLResponse:
    """Show two sessions side by side."""
    view = context.view_from(_values(request))
    pair = [context.build(service, service.get(x), view) for x in (a, b)]
    return HTMLResponse(environment().get_template("compare.html").render(
        title="Compare", pair=pair, a=a, b=b, view=view, mx=_macros(), oob=False))


@router.post("/compare/{a}/{b}/step", response_class=HTMLResponse)
def compare_step(a: str, b: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Step both sessions together and return both columns."""
    view = context.view_from(_values(request, form))
    try:
        n = int(forms.number(request.query_params.get("n", 1), "step", integer=True, low=1))
        for x in (a, b):
            service.step(x, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "compare")
    pair = [context.build(service, service.get(x), view, blocks=["columns"]) for x in (a, b)]
    html = render_blocks(environment(), "compare.html", ["columns"], pair=pair, a=a, b=b,
                         view=view, mx=_macros(), oob=True)
    return HTMLResponse(html)


@router.post("/s/{session_id}/csv")
async def upload_csv(session_id: str, request: Request, service: Service,
                     file: Annotated[UploadFile, File()]) -> Response:
    """Replace the data with columns of an uploaded CSV/TSV (header row)."""
    data = await request.form()
    view = context.view_from(_values(request, dict(data)))

    def names(key: str) -> list[str]:
        return [n.strip() for n in str(data.get(key) or "").split(",") if n.strip()]

    try:
        raw = await file.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ServiceError(422, "invalid", "the file is not UTF-8 text: save it as CSV "
                               "(UTF-8).", "csv") from None
        s = await run_in_threadpool(service.load_csv, session_id, text, names("inputs"),
                                    names("targets"))
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "csv")
    return await run_in_threadpool(_panels, request, service, s, view, EVERY, _clear("csv")
                                   + _toast(f"Loaded {s.inputs.shape[0]} rows: "
                                            f"{s.spec.layers[0]} inputs, {s.spec.layers[-1]} "
                                            "targets."))


@router.post("/import")
async def import_upload(request: Request, service: Service,
                        file: Annotated[UploadFile, File()]) -> Response:
    """Create a session from an uploaded JSON export."""
    try:
        raw = await file.read()
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ServiceError(422, "invalid", "the file is not JSON: choose a file made by "
                               "Export JSON.", "import") from None
        if not isinstance(doc, dict):
            raise ServiceError(422, "invalid", "not an exported session.", "import")
        s = await run_in_threadpool(service.import_document, doc)
    except ServiceError as err:
        return error_html(err, "import")
    return _redirect(request, f"/s/{s.id}")
