"""Pages: the landing page and its cards, a session's playground (edit and read-only),
copies, recipe links, compare, import, the open deep view and refreshes of the parts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import context, forms, gallery, plane, recipes
from .panels import (
    EVERY,
    Fields,
    Service,
    error_html,
    reading,
    redirect_to,
    render_page,
    render_parts,
    request_prefs,
)
from .play import LEFT_SECONDS
from .preferences import TABS
from .templating import environment

router = APIRouter(include_in_schema=False)
REFRESHABLE = ("live", *EVERY)  # parts a refresh may ask for


@router.get("/", response_class=HTMLResponse)
def get_landing() -> HTMLResponse:
    """Show the landing page with the gallery of cards."""
    return HTMLResponse(environment().get_template("landing.html").render(
        title="See how a neural network learns", examples=gallery.EXAMPLES,
        planes=gallery.PLANES, pictures=plane.dataset_pictures(), choices=context.CHOICES))


@router.post("/new")
def create_network(request: Request, service: Service, form: Fields) -> Response:
    """Create a session from a card or the new-network form."""
    try:
        s = service.create(_new_body(form))
    except ServiceError as err:
        return error_html(err, "new")
    return redirect_to(request, f"/s/{s.id}")


def _new_body(form: dict[str, Any]) -> dict[str, Any]:
    card = gallery.CARDS.get(str(form.get("card", "")))
    if card is not None:
        body: dict[str, Any] = json.loads(json.dumps(card.body))  # a copy, for the service
        return body
    example = form.get("example", "")
    if example and example != "custom":
        return {"example": example}
    sizes = forms.layer_sizes(str(form.get("layers", "2-3-1")), "new")
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
                 "seed": int(forms.number(form.get("seed", 0), "new", integer=True, low=0))},
        "optimizer": {"name": "sgd", "learning_rate": forms.number(
            form.get("learning_rate", 0.5), "new", low=1e-12)},
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
    return redirect_to(request, f"/s/{s.id}" + (f"?v_hide={hide}" if hide else ""))


@router.get("/s/{ref}/recipe", response_class=HTMLResponse)
@router.get("/v/{ref}/recipe", response_class=HTMLResponse)
def recipe_link(ref: str, request: Request, service: Service) -> HTMLResponse:
    """Return the recipe link of a session, hiding the chosen controls."""
    s, _ = reading(request, service, ref)
    if not recipes.shareable(s):
        raise ServiceError(409, "not_shareable", "This session's data was typed or uploaded: "
                           "share its session or copy link instead.")
    hide = [h for h in request.query_params.getlist("hide") if h in recipes.PANELS]
    url = f"{str(request.base_url).rstrip('/')}/r?{recipes.to_query(s, hide)}"
    return HTMLResponse(environment().get_template("partials/recipe_link.html").render(url=url))


@router.get("/s/{session_id}", response_class=HTMLResponse)
def get_session_page(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Show the playground of a session (the session link: edits allowed)."""
    s = service.release_play(session_id, LEFT_SECONDS)
    return render_page(request, service, s, request_prefs(request))


@router.get("/v/{token}", response_class=HTMLResponse)
def get_readonly_page(token: str, request: Request, service: Service) -> HTMLResponse:
    """Show a session read-only, by its view token: it can be watched, not changed."""
    s, prefs = reading(request, service, token)
    return render_page(request, service, s, prefs)


@router.get("/s/{session_id}/view")
def old_readonly_link(session_id: str, request: Request, service: Service) -> Response:
    """Send a read-only link of the old kind (it held the id) to the view token's page."""
    return redirect_to(request, f"/v/{service.view_token(session_id)}")


@router.get("/s/{ref}/copy")
@router.get("/v/{ref}/copy")
def copy_session(ref: str, request: Request, service: Service) -> Response:
    """Open a fresh copy of the session (the copy link), editable by whoever opens it."""
    s, _ = reading(request, service, ref)
    return redirect_to(request, f"/s/{service.fork(s.id, None).id}")


@router.get("/s/{ref}/panels")
@router.get("/v/{ref}/panels")
def get_panels(ref: str, request: Request, service: Service) -> HTMLResponse:
    """Re-render the parts asked for (`parts=a,b`; every part by default), after a change
    of display preferences or a change made in another tab."""
    s, prefs = reading(request, service, ref)
    asked = [p for p in request.query_params.get("parts", "").split(",") if p in REFRESHABLE]
    return render_parts(request, service, s, prefs, asked or EVERY)


@router.get("/s/{ref}/views/{name}", response_class=HTMLResponse)
@router.get("/v/{ref}/views/{name}", response_class=HTMLResponse)
def get_view(ref: str, name: Annotated[str, Path(max_length=20)], request: Request,
             service: Service) -> HTMLResponse:
    """Return a deep view, opened (or closed: the name "none")."""
    if name != "none" and name not in TABS:
        raise ServiceError(404, "not_found", "No such view.")
    s, prefs = reading(request, service, ref, {"tab": "" if name == "none" else name})
    return render_parts(request, service, s, prefs, ["view"], oob=False)


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
    return redirect_to(request, f"/compare/{session_id}/{other.id}")


@router.get("/compare/{a}/{b}", response_class=HTMLResponse)
def compare_page(a: str, b: str, request: Request, service: Service) -> HTMLResponse:
    """Show two sessions side by side."""
    prefs = request_prefs(request)
    pair = [context.build(service, service.get(x), prefs, parts=["network", "output"])
            for x in (a, b)]
    return HTMLResponse(environment().get_template("compare.html").render(
        title="Compare", pair=pair, a=a, b=b, prefs=prefs, oob=False))


@router.post("/compare/{a}/{b}/step", response_class=HTMLResponse)
def compare_step(a: str, b: str, request: Request, service: Service,
                 form: Fields) -> HTMLResponse:
    """Step both sessions together and return both columns."""
    prefs = request_prefs(request, form)
    try:
        n = int(forms.number(request.query_params.get("n", 1), "compare", integer=True, low=1))
        for x in (a, b):
            service.get(x)  # both exist before either trains: a 404 changes nothing
        for x in (a, b):
            service.step(x, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "compare")
    pair = [context.build(service, service.get(x), prefs, parts=["network", "output"])
            for x in (a, b)]
    html = environment().get_template("compare_columns.html").render(
        pair=pair, a=a, b=b, prefs=prefs, oob=True)
    return HTMLResponse(html)


@router.post("/import")
async def import_upload(request: Request, service: Service,
                        file: Annotated[UploadFile, File()]) -> Response:
    """Create a session from an uploaded JSON export (read, parsed and imported off the
    event loop: a document may be 16 MB)."""
    try:
        raw = await file.read()
        s = await run_in_threadpool(_import, service, raw)
    except ServiceError as err:
        return error_html(err, "import")
    return redirect_to(request, f"/s/{s.id}")


def _import(service: SessionService, raw: bytes) -> Session:
    """Parse an uploaded export and create its session."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ServiceError(422, "invalid", "the file is not JSON: choose a file made by "
                           "Export JSON.", "import") from None
    if not isinstance(doc, dict):
        raise ServiceError(422, "invalid", "not an exported session.", "import")
    return service.import_document(doc)
