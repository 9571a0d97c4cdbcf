"""Edits from the page's forms: data, architecture, dataset, initialisation, weights,
the optimiser — each one service call, then the affected panels out of band.
"""


from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.sessions.errors import ServiceError
from app.sessions.model import Session

from . import forms
from .common import (
    EVERY,
    RESULTS,
    Fields,
    Service,
    apply_edit,
    clear_slot,
    error_html,
    macros,
    render_panels,
    request_values,
    slot_for,
    toast,
    view_of,
)
from .templating import environment
from .view import view_from

router = APIRouter(include_in_schema=False)


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
    blocks = [*RESULTS, "share"]  # what data can change; not the grid (focus stays in it)
    cell = {"kind": kind, "row": r, "column": c, "value": value}
    return apply_edit(request, service, session_id, {"data_cells": [cell]}, slot, form, blocks)


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
    return apply_edit(request, service, session_id, {"inputs": inputs, "targets": targets},
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
    return apply_edit(request, service, session_id, changes, "paste", form)


@router.post("/s/{session_id}/arch")
def edit_architecture(session_id: str, request: Request, service: Service,
                      form: Fields) -> HTMLResponse:
    """Add/remove layers or neurons, change activations, the loss, or all sizes at once."""
    s = service.get(session_id)
    try:
        changes = _arch_changes(s, form)
    except ServiceError as err:
        return error_html(err, slot_for(err.field, "arch"))
    return apply_edit(request, service, session_id, changes, "arch", form,
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
    return apply_edit(request, service, session_id, {"dataset": recipe}, "dataset", form)


@router.post("/s/{session_id}/init")
def reinitialize(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Re-initialise with the form's scheme, parameters, seed and bias."""
    view = view_of(request, form)
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
    return render_panels(request, service, s, view, EVERY, toast("Re-initialised: step 0."))


@router.post("/s/{session_id}/break-symmetry")
def break_symmetry(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Re-initialise randomly (the chosen scheme) to break the symmetry."""
    view = view_of(request, form)
    try:
        init = {"scheme": str(form.get("scheme", "xavier_uniform")),
                "seed": int(forms.number(form.get("seed", 0), "break", integer=True, low=0)),
                "bias": forms.number(form.get("bias", 0), "break")}
        s = service.reinitialize(session_id, init)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "break")
    return render_panels(request, service, s, view, EVERY,
                   toast(f"Symmetry broken: {init['scheme']}, seed {init['seed']}."))


@router.post("/s/{session_id}/reset")
def reset(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Go back to the initial parameters and step 0."""
    s = service.reset(session_id)
    return render_panels(request, service, s, view_of(request, form), EVERY,
                   toast("Reset to the initial parameters: step 0."))


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
    return apply_edit(request, service, session_id, {"parameters": params}, "weights", form)


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
        mx=macros())
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
    form_view = view_of(request, form)
    try:
        s = service.patch(session_id, {"cells": [cell]})
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "param")
    closed = '<div id="cell-editor" hx-swap-oob="true" aria-live="polite"></div>'
    return render_panels(request, service, s, form_view, EVERY, clear_slot("param") + closed)


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
    return apply_edit(request, service, session_id, changes, "optimizer", form, blocks)


# ---------------------------------------------------------------------------- training
@router.post("/s/{session_id}/csv")
async def upload_csv(session_id: str, request: Request, service: Service,
                     file: Annotated[UploadFile, File()]) -> Response:
    """Replace the data with columns of an uploaded CSV/TSV (header row)."""
    data = await request.form()
    view = view_from(request_values(request, dict(data)))

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
    note = clear_slot("csv") + toast(f"Loaded {s.inputs.shape[0]} rows: {s.spec.layers[0]} "
                                     f"inputs, {s.spec.layers[-1]} targets.")
    return await run_in_threadpool(render_panels, request, service, s, view, EVERY, note)
