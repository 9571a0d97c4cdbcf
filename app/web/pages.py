"""Pages: the landing page, a session's playground (edit and read-only), copies, recipe
links, compare, import, and the panels' refresh and cross-tab sync.
"""


import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from app.sessions.errors import ServiceError

from . import context, forms, recipes
from .common import (
    EVERY,
    Fields,
    Service,
    error_html,
    macros,
    redirect_to,
    render_page,
    render_panels,
    request_values,
    view_of,
)
from .templating import environment, render_blocks
from .view import view_from

router = APIRouter(include_in_schema=False)


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
    return redirect_to(request, f"/s/{s.id}")


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
    return redirect_to(request, f"/s/{s.id}" + (f"?v_hide={hide}" if hide else ""))


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
    return render_page(request, service, s, view_of(request))


@router.get("/s/{session_id}/view", response_class=HTMLResponse)
def get_readonly_page(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Show a session read-only."""
    s = service.get(session_id)
    return render_page(request, service, s, view_of(request, readonly=True))


@router.get("/s/{session_id}/copy")
def copy_session(session_id: str, request: Request, service: Service) -> Response:
    """Open a fresh copy of the session (the copy link)."""
    return redirect_to(request, f"/s/{service.fork(session_id, None).id}")


@router.get("/s/{session_id}/panels")
def get_panels(session_id: str, request: Request, service: Service) -> HTMLResponse:
    """Re-render every panel (after a change of display preferences)."""
    values = request_values(request)
    view = view_from(values, readonly=values.get("readonly") == "1")
    return render_panels(request, service, service.get(session_id), view, EVERY)


@router.get("/s/{session_id}/sync")
def sync_session(session_id: str, request: Request, service: Service) -> Response:
    """Return every panel if the session moved on since `version` (another tab), else 204."""
    values = request_values(request)
    s = service.get(session_id)
    if str(s.version) == str(values.get("version")):
        return Response(status_code=204)
    view = view_from(values, readonly=values.get("readonly") == "1")
    return render_panels(request, service, s, view, EVERY)


# ---------------------------------------------------------------------------- edits
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
    view = view_of(request)
    pair = [context.build(service, service.get(x), view) for x in (a, b)]
    return HTMLResponse(environment().get_template("compare.html").render(
        title="Compare", pair=pair, a=a, b=b, view=view, mx=macros(), oob=False))


@router.post("/compare/{a}/{b}/step", response_class=HTMLResponse)
def compare_step(a: str, b: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Step both sessions together and return both columns."""
    view = view_of(request, form)
    try:
        n = int(forms.number(request.query_params.get("n", 1), "step", integer=True, low=1))
        for x in (a, b):
            service.step(x, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "compare")
    pair = [context.build(service, service.get(x), view, blocks=["columns"]) for x in (a, b)]
    html = render_blocks("compare.html", ["columns"], pair=pair, a=a, b=b,
                         view=view, mx=macros(), oob=True)
    return HTMLResponse(html)


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
    return redirect_to(request, f"/s/{s.id}")
