"""Tools of the deep views: check my hand calculation, and copy a matrix as NumPy, CSV
or LaTeX.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.engine.trace import with_ones
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import forms, matrices
from .format import num
from .panels import Fields, PacedPage, Service, error_html, reading, request_prefs
from .preferences import Prefs
from .templating import environment

router = APIRouter(include_in_schema=False)


@router.post("/s/{session_id}/check", response_class=HTMLResponse)
def check(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Check a hand-computed matrix; return the verdict table."""
    return verdict(service, service.get(session_id), request_prefs(request, form), form)


@router.get("/v/{token}/check", response_class=HTMLResponse)
def check_read_only(token: str, request: Request, service: Service) -> HTMLResponse:
    """Check a hand-computed matrix from the read-only page (a read: the fields come in
    the query)."""
    form = dict(request.query_params)
    s, prefs = reading(request, service, token, form)
    return verdict(service, s, prefs, form)


def verdict(service: SessionService, s: Session, prefs: Prefs,
            form: dict[str, Any]) -> HTMLResponse:
    """Return the verdict table of a check, or the refusal beside the form."""
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
        return error_html(err, "check")
    return HTMLResponse(environment().get_template("partials/check_result.html").render(
        r=result, prefs=prefs, num=num, rows=range(result.expected.shape[0]),
        cols=range(result.expected.shape[1])))


@router.get("/s/{ref}/copy/{key}.{fmt}", response_class=HTMLResponse)
@router.get("/v/{ref}/copy/{key}.{fmt}", response_class=HTMLResponse)
def copy_matrix(ref: str, key: str, fmt: str, request: Request,
                service: Service) -> HTMLResponse:
    """Return a matrix as NumPy, CSV or LaTeX text in a small copy dialog."""
    s, prefs = reading(request, service, ref)
    m = _matrix_for(service, s, key, prefs)
    if m is None or fmt not in ("numpy", "csv", "latex"):
        raise ServiceError(404, "not_found", "No such matrix.")
    name = re.sub(r"\W", "_", key)
    text = {"numpy": lambda: "import numpy as np\n" + matrices.as_numpy(m, name),
            "csv": lambda: matrices.as_csv(m),
            "latex": lambda: matrices.as_latex(m, prefs.decimals)}[fmt]()
    return PacedPage(environment().get_template("partials/copy_dialog.html").render(
        key=key, fmt=fmt, text=text))


def _matrix_for(service: SessionService, s: Session, key: str,
                prefs: Prefs) -> np.ndarray | None:
    tr = service.trace_of(s)
    match = re.fullmatch(r"([a-z_]+)(?:-([a-z0-9]+))?-(\d+)", key)
    if not match:
        return None
    kind, slot, index = match[1], match[2], int(match[3])
    aug = prefs.augmented
    L = s.spec.transitions
    if kind in ("w", "ug", "us", "un", "slot") and not 0 <= index < L:
        return None
    if kind in ("z", "a", "dloss_da", "da_dz", "delta", "grad", "prevT") and not 1 <= index <= L:
        return None

    def stack(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = np.vstack([b[None, :], w]) if aug else w
        return m.T if prefs.transpose else m

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
