"""What every HTML route shares: the form dependency, rendering panels, error slots.

Every handler calls the same session service as the JSON API, then renders named blocks
of `session.html` (as jinja2-fragments does): the markup of a panel exists once. A form error is
a 422 carrying the message into the error slot beside the field (`err-<name>`), and
nothing else changes.
"""


import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from app.api.sessions import get_service
from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import context
from .templating import environment, render_blocks
from .view import View, view_from

Service = Annotated[SessionService, Depends(get_service)]
EVERY = ("toolbar", "banners", "plane", "diagram", "loss", "data", "architecture", "init",
         "training", "stepper", "walkthrough", "matrices", "diagnostics", "distributions",
         "check", "share")
RESULTS = ("toolbar", "banners", "plane", "diagram", "loss", "stepper", "walkthrough",
           "matrices", "diagnostics", "distributions")


def request_values(request: Request, form: dict[str, Any] | None = None) -> dict[str, Any]:
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


def view_of(request: Request, form: dict[str, Any] | None = None,
            readonly: bool = False) -> View:
    """Return the viewer's display preferences sent with the request."""
    return view_from(request_values(request, form), readonly=readonly)


def render_page(request: Request, service: SessionService, s: Session,
          view: View) -> HTMLResponse:
    ctx = context.build(service, s, view, str(request.base_url).rstrip("/"))
    html = environment().get_template("session.html").render(
        **ctx, mx=macros(), title=s.title or "Network", oob=False, playing=False, frame=0,
        rate="")
    return HTMLResponse(html)


def macros() -> Any:
    return environment().get_template("partials/macros.html").module


def render_panels(request: Request, service: SessionService, s: Session, view: View,
            blocks: Iterable[str], extra: str = "", status: int = 200,
            **more: Any) -> HTMLResponse:
    blocks = list(blocks)
    ctx = context.build(service, s, view, str(request.base_url).rstrip("/"), blocks)
    html = render_blocks("session.html", blocks, **ctx, mx=macros(),
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


def clear_slot(slot: str) -> str:
    return f'<span class="field-error" id="err-{slot}" hx-swap-oob="true"></span>'


def toast(text: str) -> str:
    return (f'<div id="toast" hx-swap-oob="true" role="status" aria-live="polite" '
            f'class="show">{escape(text)}</div>')


def redirect_to(request: Request, url: str) -> Response:
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------- pages

def apply_edit(request: Request, service: SessionService, session_id: str,
          changes: dict[str, Any], slot: str, form: FormFields,
          blocks: Iterable[str] = EVERY, clear: str = "") -> HTMLResponse:
    view = view_of(request, form)
    try:
        s = service.patch(session_id, changes)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, slot_for(err.field, slot))
    return render_panels(request, service, s, view, blocks, clear_slot(clear or slot))
