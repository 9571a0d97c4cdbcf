"""The read-only endpoints: every read of a session by its view token, and no write.

`/api/views/{token}` answers what `/api/sessions/{id}` answers for reading — the session
(without its id), the trace, the phase stepper, the loss history, the diagnostics and the
export — and nothing else: there is no write route under it, and a token is not an id, so
no write route of `/api/sessions` finds a session by it (404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from . import serialize
from .fastpath import FastRoute
from .reports import DiagnosticsOut, HistoryOut
from .schemas import PhaseOut, SessionView, TraceOut
from .sessions import (
    ERRORS,
    EXPORT_RESPONSES,
    ExportFormat,
    MaxPoints,
    Observations,
    ScriptIterations,
    Service,
    diagnostics_of,
    export_of,
    history_of,
    trace_of,
)

READ_ERRORS: dict[int | str, dict[str, Any]] = {
    code: answer for code, answer in ERRORS.items() if code in (400, 404, 405, 408, 422, 503)}
READ_ERRORS[404] = {**ERRORS[404], "description": "Unknown, expired or malformed view token"}

router = APIRouter(prefix="/api/views", tags=["read-only views"], responses=READ_ERRORS,
                   route_class=FastRoute)


@router.get("/{token}", response_model=SessionView)
def get_view(*, token: str, service: Service) -> JSONResponse:
    """Return the session a view token names: spec, data, parameters, loss and status."""
    s = service.get_by_view(token)
    return serialize.JSON(serialize.session_view(service, s, token),
                          headers={"ETag": f'"{s.version}"'})


@router.get("/{token}/trace", response_model=TraceOut)
def get_view_trace(*, token: str, service: Service, observations: Observations = None,
                   augmented: bool = False) -> JSONResponse:
    """Return the step the current parameters would take: forward, loss, backward, update."""
    return trace_of(service, service.get_by_view(token), observations, augmented)


@router.get("/{token}/phase", response_model=PhaseOut)
def get_view_phase(*, token: str, service: Service) -> JSONResponse:
    """Return the phase stepper's position and every matrix computed so far."""
    s = service.get_by_view(token)
    return serialize.JSON(serialize.phase_out(s, service.phase_view(s)))


@router.get("/{token}/history", response_model=HistoryOut)
def get_view_history(*, token: str, service: Service,
                     max_points: MaxPoints = None) -> dict[str, Any]:
    """Return the loss after each step (decimated: first, last, minima and maxima kept)."""
    return history_of(service, service.get_by_view(token), max_points)


@router.get("/{token}/diagnostics", response_model=DiagnosticsOut)
def get_view_diagnostics(*, token: str, service: Service) -> JSONResponse:
    """Return the gradient check, symmetry groups, saturation, dead units, gradient norms."""
    return diagnostics_of(service, service.get_by_view(token))


@router.get("/{token}/export", response_model=None, responses=EXPORT_RESPONSES)
def export_view(*, token: str, service: Service, format: ExportFormat = "json",
                iterations: ScriptIterations = 1000) -> JSONResponse | PlainTextResponse:
    """Return a JSON document that recreates the session, or a standalone NumPy script."""
    return export_of(service, service.get_by_view(token), token[:8], format,
                     iterations)
