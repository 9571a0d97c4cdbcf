"""What every HTML route shares: the service and form dependencies, the viewer's
preferences, and rendering the page, its parts and its notes.

Every handler calls the same session service as the JSON API, then renders parts of the
session page (`templates/session/<part>.html`), each swapped out of band by its id: the
markup of a part exists once. A form error is a 422 carrying the message into the slot
beside the field (`err-<name>`), and nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.paced import Paced
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import context
from .preferences import Prefs, prefs_from
from .templating import environment


async def session_service(request: Request) -> SessionService:
    """Return the app's session service (async: no thread hop for a dependency this cheap)."""
    service: SessionService = request.app.state.service
    return service


Service = Annotated[SessionService, Depends(session_service)]


class PacedPage(Paced, HTMLResponse):
    """A page or fragment, a large one sent in pieces (`app.paced`)."""


EVERY = ("controls", "data", "network", "output", "view")
RESULTS = ("controls", "network", "output", "view")  # what training and phases change
KNOWN_SLOTS = {"init.seed", "init.bias", "init.value", "init.gain", "init.low", "init.high",
               "init.mean", "init.std", "optimizer.name", "optimizer.learning_rate",
               "optimizer.momentum", "optimizer.rho", "optimizer.beta1", "optimizer.beta2",
               "optimizer.epsilon", "batch_size", "regularization.rate", "loss"}


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


async def form_fields(request: Request) -> AsyncIterator[FormFields]:
    """Read the form (the only async part); handlers then run in the thread pool. Any file
    sent with it is closed once the response is done, whether the route read it or not."""
    if request.method != "POST":
        yield FormFields([])
        return
    data = await request.form()
    try:
        yield FormFields(list(data.multi_items()))
    finally:
        await data.close()


Fields = Annotated[FormFields, Depends(form_fields)]


def request_prefs(request: Request, form: dict[str, Any] | None = None,
                  view: str = "") -> Prefs:
    """Return the preferences of a request: its query, then its form."""
    values: dict[str, Any] = dict(request.query_params)
    values.update(form or {})
    return prefs_from(values, view=view)


def reading(request: Request, service: SessionService, ref: str,
            form: dict[str, Any] | None = None) -> tuple[Session, Prefs]:
    """Return the session a read route names and the viewer's preferences: under /s/ by
    its id, under /v/ by its view token (read-only: what it renders holds no write URL)."""
    route = request.scope.get("route")
    if str(getattr(route, "path", request.url.path)).startswith("/v/"):
        return service.get_by_view(ref), request_prefs(request, form, view=ref)
    return service.get(ref), request_prefs(request, form)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def render_page(request: Request, service: SessionService, s: Session,
                prefs: Prefs) -> HTMLResponse:
    """Return the whole session page."""
    ctx = context.build(service, s, prefs, base_url(request))
    html = environment().get_template("session/page.html").render(
        **ctx, title=s.title or "Network", oob=False)
    return PacedPage(html, headers={"Cache-Control": "no-store"})


def render_parts(request: Request, service: SessionService, s: Session, prefs: Prefs,
                 parts: Iterable[str], *, oob: bool = True, status: int = 200,
                 notes: str = "") -> HTMLResponse:
    """Return parts of the session page (out of band unless `oob` is False), then notes."""
    parts = list(parts)
    ctx = context.build(service, s, prefs, base_url(request), parts)
    env = environment()
    html = "".join(env.get_template(f"session/{part}.html").render(**ctx, oob=oob)
                   for part in parts)
    return PacedPage(html + notes, status_code=status)


def notes(*, toast: str = "", error: str = "", slot: str = "", tone: str = "") -> str:
    """Return the out-of-band notes of a response: a toast, and an error beside a field
    (the page clears a control's errors when it sends the control, never the server)."""
    if not (toast or error):
        return ""
    return environment().get_template("partials/notes.html").render(
        toast=toast, error=error, slot=slot, tone=tone)


def slot_for(field: str | None, default: str) -> str:
    """Return the error slot of a service field name (`optimizer.learning_rate` → …)."""
    if not field:
        return default
    cell = re.fullmatch(r"(inputs|targets)\[(\d+)\]\[(\d+)\]", field)
    if cell:
        return f"{cell[1]}-{cell[2]}-{cell[3]}"
    if field.startswith("layers"):
        return "layers"
    return field.replace(".", "-") if field in KNOWN_SLOTS else default


def error_html(err: ServiceError, slot: str) -> HTMLResponse:
    """Return the 422 that puts the message beside the field (and in the toast)."""
    return HTMLResponse(notes(toast=err.message, error=err.message, slot=slot, tone="error"),
                        status_code=422 if err.status < 500 else err.status,
                        headers={"HX-Reswap": "none"})


ERROR_TITLES = {404: "Not found", 503: "Busy", 507: "Storage full"}


def error_page(status: int, message: str, title: str | None = None) -> HTMLResponse:
    """Return the page a browser gets for a refused or failed page request."""
    title = title or ERROR_TITLES.get(status, "Something went wrong")
    html = environment().get_template("error.html").render(title=title, status=status,
                                                          message=message)
    return HTMLResponse(html, status_code=status)


def redirect_to(request: Request, url: str) -> Response:
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def apply_edit(request: Request, service: SessionService, session_id: str,
               changes: dict[str, Any], slot: str, form: FormFields,
               parts: Iterable[str] = EVERY, toast: str = "") -> HTMLResponse:
    """Patch the session; return the parts it changes, or the error beside the field."""
    prefs = request_prefs(request, form)
    try:
        s = service.patch(session_id, changes)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, slot_for(err.field, slot))
    return render_parts(request, service, s, prefs, parts,
                        notes=notes(toast=toast))
