"""The session endpoints: thin handlers that validate, call the service, serialise.

Every operation documents its real responses: the models of `schemas` and `reports`, the
media types (the export is JSON or a Python script as text/plain) and the one error shape
for each refusal. An operation without a request body refuses one (`fastpath.FastRoute`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.sessions.documents import expand
from app.sessions.errors import ServiceError
from app.sessions.export_script import numpy_script
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import serialize
from .fastpath import FastRoute, fast_path, json_body
from .reports import DiagnosticsOut, ExportOut, HistoryOut
from .schemas import (
    CheckOut,
    CheckRequest,
    CsvFields,
    ErrorOut,
    ForkRequest,
    InitFields,
    PhaseOut,
    PhaseRequest,
    SessionCreate,
    SessionPublic,
    SessionUpdate,
    StepRequest,
    StepResult,
    TraceOut,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in ((400, "Malformed request"),
                       (404, "Unknown, expired or malformed session id"),
                       (405, "Method not allowed (Allow lists the path's methods)"),
                       (408, "The body came too slowly"),
                       (409, "Nothing to undo or redo"),
                       (412, "If-Match names an older version"),
                       (413, "Body over the size limit"),
                       (422, "Invalid field, or over a limit (the field and limit are named)"),
                       (503, "Store full, session busy, store unavailable (see "
                             "Retry-After), or too many requests in flight"),
                       (507, "The server's storage is full: nothing was changed"))
}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "model": ExportOut, "description": "format=json: the document that recreates the "
    "session; format=python: a standalone NumPy script",
    "content": {"text/plain": {"schema": {"type": "string"}}}}}
VERSION = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() accepts "²"
ROWS = re.compile(r" *[0-9]{1,9} *(, *[0-9]{1,9} *)*")  # row indices, e.g. "0,2"


async def get_service(request: Request) -> SessionService:
    """Return the app's session service (async: no thread hop for a dependency this cheap)."""
    service: SessionService = request.app.state.service
    return service


Service = Annotated[SessionService, Depends(get_service)]
IfMatch = Annotated[str | None, Header(description="the session's version (its ETag)")]

# FastRoute: the step (matched first: declared first) has a fast path for plain requests
router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=ERRORS,
                   route_class=FastRoute)


def parse_if_match(value: str | None) -> int | None:
    """Return the version an If-Match header names (accepts 3, "3" and W/"3")."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not VERSION.fullmatch(text):
        raise ServiceError(422, "invalid", "If-Match must be the session's version, e.g. \"3\"",
                           "If-Match")
    return int(text)


def _changes(model: SessionUpdate | SessionCreate) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, exclude_none=False)


def _public(service: SessionService, session: Any, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = f'"{session.version}"'
    return serialize.session_public(service, session)


async def _fast_step(request: Request) -> Response | None:
    """The plain step request, answered without FastAPI's generic work (`fastpath`)."""
    body = await json_body(request, StepRequest)
    if body is None:
        return None  # not plain: FastAPI reads it (and refuses what it must)
    iterations = body.iterations if isinstance(body, StepRequest) else 1
    return await _step(request.app.state.service, request.path_params["session_id"],
                       iterations, request.headers.get("if-match"))


@router.post("/{session_id}/step", response_model=StepResult)
@fast_path(_fast_step)
async def step_session(*, session_id: str, request: Request,
                       body: StepRequest | None = None, if_match: IfMatch = None) -> JSONResponse:
    """Train `iterations` updates (stopping at the time budget: `truncated`)."""
    return await _step(request.app.state.service, session_id, body.iterations if body else 1,
                       if_match)


async def _step(service: SessionService, session_id: str, iterations: int,
                if_match: str | None) -> JSONResponse:
    outcome = await service.step_async(session_id, iterations, parse_if_match(if_match))
    s = outcome.session
    return JSONResponse({
        "step": s.progress.step, "epoch": s.progress.epoch,
        "iterations_run": outcome.iterations_run, "truncated": outcome.truncated,
        "loss": serialize.number(s.loss), "status": s.status,
        "divergence": None if s.divergence is None else s.divergence.to_dict(),
        "version": s.version}, headers={"ETag": f'"{s.version}"'})


@router.post("", status_code=201, response_model=SessionPublic)
def create_session(*, body: SessionCreate, service: Service, response: Response,
                   request: Request) -> dict[str, Any]:
    """Create a session from a spec and data, or from a named example."""
    session = service.create(_changes(body))
    response.headers["Location"] = str(request.url_for("get_session", session_id=session.id))
    return _public(service, session, response)


@router.post("/import", status_code=201, response_model=SessionPublic)
def import_session(*, document: Annotated[dict[str, Any], Body()], service: Service,
                   response: Response, request: Request) -> dict[str, Any]:
    """Create a session from a document made by export."""
    session = service.import_document(document)
    response.headers["Location"] = str(request.url_for("get_session", session_id=session.id))
    return _public(service, session, response)


@router.get("/{session_id}", response_model=SessionPublic)
def get_session(*, session_id: str, service: Service) -> JSONResponse:
    """Return the session: spec, data, parameters, loss and status."""
    session = service.get(session_id)  # the hot reads answer without re-validating the dict
    return serialize.JSON(serialize.session_public(service, session),
                          headers={"ETag": f'"{session.version}"'})


@router.patch("/{session_id}", response_model=SessionPublic)
def update_session(*, session_id: str, body: SessionUpdate, service: Service,
                   response: Response, if_match: IfMatch = None) -> dict[str, Any]:
    """Edit the spec, data, hyper-parameters, whole matrices or single cells."""
    session = service.patch(session_id, _changes(body), parse_if_match(if_match))
    return _public(service, session, response)


@router.delete("/{session_id}", status_code=204)
def delete_session(*, session_id: str, service: Service) -> Response:
    """Delete the session for good."""
    service.delete(session_id)
    return Response(status_code=204)


@router.post("/{session_id}/reinitialize", response_model=SessionPublic)
def reinitialize_session(*, session_id: str, service: Service, response: Response,
                         body: InitFields | None = None,
                         if_match: IfMatch = None) -> dict[str, Any]:
    """Draw fresh parameters, optionally with another scheme or seed; back to step 0."""
    init = body.model_dump(exclude_none=True) if body else None
    session = service.reinitialize(session_id, init, parse_if_match(if_match))
    return _public(service, session, response)


@router.post("/{session_id}/reset", response_model=SessionPublic)
def reset_session(*, session_id: str, service: Service, response: Response,
                  if_match: IfMatch = None) -> dict[str, Any]:
    """Go back to the initial parameters and step 0."""
    return _public(service, service.reset(session_id, parse_if_match(if_match)), response)


@router.post("/{session_id}/undo", response_model=SessionPublic)
def undo_session(*, session_id: str, service: Service, response: Response) -> dict[str, Any]:
    """Undo the last edit or training run."""
    return _public(service, service.undo(session_id), response)


@router.post("/{session_id}/redo", response_model=SessionPublic)
def redo_session(*, session_id: str, service: Service, response: Response) -> dict[str, Any]:
    """Redo what undo took back."""
    return _public(service, service.redo(session_id), response)


def _observations(text: str | None) -> list[int] | None:
    if text is None or text == "":
        return None
    if not ROWS.fullmatch(text):
        raise ServiceError(422, "invalid", "observations must be comma-separated row indices, "
                           "e.g. 0,2", "observations")
    return [int(v) for v in text.split(",")]


Observations = Annotated[str | None, Query(
    description="comma-separated rows, e.g. 0,1 (default: the next batch)")]
MaxPoints = Annotated[int | None, Query(ge=10)]
ExportFormat = Literal["json", "python"]
ScriptIterations = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/{session_id}/trace", response_model=TraceOut)
def get_trace(*, session_id: str, service: Service, observations: Observations = None,
              augmented: bool = False) -> JSONResponse:
    """Return the step the current parameters would take: forward, loss, backward, update."""
    return trace_of(service, service.get(session_id), observations, augmented)


@router.get("/{session_id}/phase", response_model=PhaseOut)
def get_phase(*, session_id: str, service: Service) -> JSONResponse:
    """Return the phase stepper's position and every matrix computed so far."""
    s = service.get(session_id)
    return serialize.JSON(serialize.phase_out(s, service.phase_view(s)))


@router.post("/{session_id}/phase", response_model=PhaseOut)
def advance_phase(*, session_id: str, service: Service,
                  body: PhaseRequest | None = None) -> JSONResponse:
    """Compute the next phase (after the update, the step is applied)."""
    s, v = service.advance_phase(session_id, (body or PhaseRequest()).action)
    return serialize.JSON(serialize.phase_out(s, v))


@router.get("/{session_id}/history", response_model=HistoryOut)
def get_history(*, session_id: str, service: Service,
                max_points: MaxPoints = None) -> dict[str, Any]:
    """Return the loss after each step (decimated: first, last, minima and maxima kept)."""
    return history_of(service, service.get(session_id), max_points)


@router.get("/{session_id}/diagnostics", response_model=DiagnosticsOut)
def get_diagnostics(*, session_id: str, service: Service) -> JSONResponse:
    """Return the gradient check, symmetry groups, saturation, dead units, gradient norms."""
    return diagnostics_of(service, service.get(session_id))


@router.get("/{session_id}/export", response_model=None, responses=EXPORT_RESPONSES)
def export_session(*, session_id: str, service: Service, format: ExportFormat = "json",
                   iterations: ScriptIterations = 1000) -> JSONResponse | PlainTextResponse:
    """Return a JSON document that recreates the session, or a standalone NumPy script."""
    return export_of(service, service.get(session_id), session_id[:8], format, iterations)


# The reads' bodies, shared with the read-only routes (`views`): each takes the session.
def trace_of(service: SessionService, s: Session, observations: str | None,
             augmented: bool) -> JSONResponse:
    """Return the trace response of the session."""
    tr = service.trace_of(s, _observations(observations))
    return serialize.JSON(serialize.trace_out(s, tr, augmented))


def history_of(service: SessionService, s: Session, max_points: int | None) -> dict[str, Any]:
    """Return the loss history response of the session."""
    steps, losses = service.history(s, max_points)
    test_steps, test_losses = service.test_history(s, max_points)
    return {"step": steps, "loss": losses, "edits": s.edits,
            "total_points": len(s.history_steps), "test_step": test_steps,
            "test_loss": test_losses}


def diagnostics_of(service: SessionService, s: Session) -> JSONResponse:
    """Return the diagnostics response of the session."""
    d = service.diagnostics(s)
    return serialize.JSON(serialize.diagnostics_out(s, d.gradient_check, d.symmetry,
                                                    d.activity, d.gradients, d.trace))


def export_of(service: SessionService, s: Session, short_name: str, format: ExportFormat,
              iterations: int) -> JSONResponse | PlainTextResponse:
    """Return the export of the session as a download named after `short_name`."""
    doc = service.export(s)
    name = f"backprop-playground-{short_name}"
    if format == "python":
        return PlainTextResponse(numpy_script(expand(doc), iterations), headers={
            "Content-Disposition": f'attachment; filename="{name}.py"'})
    return serialize.JSON(doc, headers={
        "Content-Disposition": f'attachment; filename="{name}.json"'})


@router.post("/{session_id}/fork", status_code=201, response_model=SessionPublic)
def fork_session(*, session_id: str, service: Service, response: Response, request: Request,
                 body: ForkRequest | None = None) -> dict[str, Any]:
    """Copy the session into a new one, optionally changed (e.g. another initialisation)."""
    changes = body.model_dump(exclude_unset=True) if body else None
    session = service.fork(session_id, changes)
    response.headers["Location"] = str(request.url_for("get_session", session_id=session.id))
    return _public(service, session, response)


@router.post("/{session_id}/csv", response_model=SessionPublic)
def upload_csv(*, session_id: str, body: CsvFields, service: Service,
               response: Response) -> dict[str, Any]:
    """Replace the data with columns of a CSV (header row); layer sizes follow the columns."""
    session = service.load_csv(session_id, body.text, body.inputs, body.targets)
    return _public(service, session, response)


@router.post("/{session_id}/check", response_model=CheckOut)
def check_calculation(*, session_id: str, body: CheckRequest,
                      service: Service) -> JSONResponse:
    """Check a hand-computed matrix against the current step, cell by cell."""
    s = service.get(session_id)
    values: Any = body.values
    if values and not isinstance(values[0], list):
        values = [values]
    r = service.check(s, body.quantity, body.layer, values, body.tolerance)
    return serialize.JSON({
        "quantity": r.quantity, "layer": r.layer, "tolerance": r.tolerance,
        "all_correct": r.all_correct, "correct": r.correct,
        "expected": serialize.clean(r.expected), "submitted": r.submitted.tolist(),
        "augmented": r.augmented, "first_wrong": r.first_wrong})
