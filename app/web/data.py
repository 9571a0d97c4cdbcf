"""The data column: cells, rows, pasted and uploaded tables, and for 2-D problems the
dataset, its noise and split, and the input features (each switched in one click).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.engine.datasets import FEATURES
from app.sessions.errors import ServiceError

from . import forms
from .panels import (
    EVERY,
    RESULTS,
    Fields,
    Service,
    apply_edit,
    error_html,
    notes,
    render_parts,
    request_prefs,
)
from .plane import features_of

router = APIRouter(include_in_schema=False)


@router.post("/s/{session_id}/cell")
def edit_data_cell(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Change one input or target cell."""
    kind = "targets" if form.get("kind") == "targets" else "inputs"
    try:
        r = int(forms.number(form.get("row"), "data", integer=True, low=0))
        c = int(forms.number(form.get("column"), "data", integer=True, low=0))
        slot = f"{kind}-{r}-{c}"
        value = forms.number(form.get("value"), slot)
    except ServiceError as err:
        return error_html(err, err.field if err.field and "-" in err.field else "data")
    parts = RESULTS  # not the data: the cell being edited keeps its focus
    cell = {"kind": kind, "row": r, "column": c, "value": value}
    return apply_edit(request, service, session_id, {"data_cells": [cell]}, slot, form, parts)


@router.post("/s/{session_id}/rows")
def edit_rows(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Add an observation (zeros) or remove one."""
    s = service.get(session_id)
    inputs, targets = s.inputs.tolist(), s.targets.tolist()
    try:
        if form.get("action") == "remove":
            r = int(forms.number(form.get("row"), "data", integer=True, low=0,
                                 high=len(inputs) - 1))
            if len(inputs) == 1:
                raise ServiceError(422, "invalid", "a network needs at least one "
                                   "observation.", "data")
            del inputs[r], targets[r]
        else:
            inputs.append([0.0] * s.inputs.shape[1])
            targets.append([0.0] * s.targets.shape[1])
    except ServiceError as err:
        return error_html(err, "data")
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


@router.post("/s/{session_id}/csv")
async def upload_csv(session_id: str, request: Request, service: Service,
                     file: Annotated[UploadFile, File()]) -> Response:
    """Replace the data with columns of an uploaded CSV/TSV (header row)."""
    data = await request.form()
    prefs = request_prefs(request, dict(data))

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
    note = notes(toast=f"Loaded {s.inputs.shape[0]} rows: {s.spec.layers[0]} inputs, "
                 f"{s.spec.layers[-1]} targets.")
    return await run_in_threadpool(render_parts, request, service, s, prefs, EVERY,
                                   notes=note)


@router.post("/s/{session_id}/dataset")
def edit_dataset(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Regenerate the 2-D dataset: name, noise, test share, points, seed (the next one for
    Regenerate), classes."""
    try:
        recipe: dict[str, Any] = {"name": str(form.get("name", "circle"))}
        if form.getlist("features"):
            recipe["features"] = [str(f) for f in form.getlist("features")]
        recipe["noise"] = forms.number(form.get("noise", 0), "dataset", low=0, high=50) / 100
        recipe["test_ratio"] = forms.number(form.get("test_ratio", 50), "dataset", low=10,
                                            high=90) / 100
        recipe["points"] = int(forms.number(form.get("points", 200), "dataset", integer=True,
                                            low=4))
        seed = int(forms.number(form.get("seed", 0), "dataset", integer=True, low=0))
        recipe["seed"] = seed + 1 if form.get("regenerate") == "1" else seed
        if form.get("classes"):
            recipe["classes"] = int(forms.number(form.get("classes"), "dataset", integer=True,
                                                 low=3, high=8))
    except ServiceError as err:
        return error_html(err, "dataset")
    return apply_edit(request, service, session_id, {"dataset": recipe}, "dataset", form)


@router.post("/s/{session_id}/features")
def toggle_feature(session_id: str, request: Request, service: Service,
                   form: Fields) -> HTMLResponse:
    """Switch one input feature on or off; the network restarts on the new inputs."""
    s = service.get(session_id)
    feature = str(form.get("feature", ""))
    try:
        if s.problem is None:
            raise ServiceError(409, "invalid", "only 2-D problems have input features.",
                               "features")
        if feature not in FEATURES:
            raise ServiceError(422, "invalid", f"unknown feature; choose from "
                               f"{', '.join(FEATURES)}.", "features")
        chosen = features_of(s.problem)
        chosen = [f for f in chosen if f != feature] if feature in chosen else [
            f for f in FEATURES if f in chosen or f == feature]
        if not chosen:
            raise ServiceError(422, "invalid", "keep at least one input feature.", "features", 1)
    except ServiceError as err:
        return error_html(err, "features")
    label = FEATURES[feature].label
    on = feature in chosen
    return apply_edit(request, service, session_id, {"dataset": {"features": chosen}},
                      "features", form, toast=f"{label} {'on' if on else 'off'}: the network "
                      f"restarts on {len(chosen)} input{'s' if len(chosen) != 1 else ''}.")
