"""The read-only page `/v/{token}`: it shows a session and can change nothing.

Its HTML and every fragment it fetches hold no write URL and never the session id; no
HTML write route finds a session by its token; the edit page's share view links it; its
copy link forks an editable session; and in Chromium a viewer's page sends only GETs,
follows the session as its owner trains it, and never trains a playing session itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from app.main import create_app
from app.settings import Settings
from app.web.views import VIEWS

BODIES: dict[str, dict[str, Any]] = {"origin": {"example": "origin"},
                                     "spiral": {"dataset": {"name": "spiral"}}}
WRITE_URL = re.compile(r"""hx-(?:post|put|patch|delete)\b|<form\b[^>]*\bmethod\s*=\s*["']?post\b
                           |/s/|/api/sessions|/compare/""", re.I | re.X)
EDITING = [name for name, v in VIEWS.items() if v.editing]  # setup, compare
FORM = {"action": "play", "n": "1", "row": "0", "column": "0", "value": "0.5",
        "transition": "0", "kind": "weights", "text": "0.1,0.2,0.3,0.4", "title": "x",
        "learning_rate": "0.1", "seed": "1", "scheme": "xavier_uniform", "name": "circle",
        "feature": "x1", "quantity": "a", "layer": "1", "values": "0.5"}  # valid fields
FILES = {"file": ("data.csv", b"x1,x2,y1,y2\n0.1,0.2,0.3,0.4\n", "text/csv")}  # /csv's
PATH_VALUES = {"name": "share", "key": "w-0", "fmt": "numpy"}  # other path parameters
LIVE_WAIT_MS = 30_000  # a ceiling for the live stream to show a change (auto-waiting)


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Yield (path, methods) of every APIRoute, through FastAPI's included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods or ())


ROUTES = list(_routes(create_app(Settings(store="memory")).routes))
HTML_WRITES = sorted(p for p, m in ROUTES if "POST" in m and p.startswith(("/s/{", "/compare/")))
EDIT_READS = sorted(p for p, m in ROUTES if "GET" in m and p.startswith("/s/{")
                    and not p.endswith(("/view", "/live")))  # the stream: on the server
VIEW_PATHS = sorted(p for p, _ in ROUTES if p.startswith("/v/"))


def _with_token(path: str, token: str) -> str:
    """Return the route's path with the token for every session and defaults elsewhere."""
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], token), path)


class Elements(HTMLParser):
    """Every start tag of a document: (tag, attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def with_id(self, ident: str) -> dict[str, str | None] | None:
        return next((a for _, a in self.found if a.get("id") == ident), None)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """Yield a client of an app with the memory store."""
    with TestClient(create_app(Settings(store="memory", create_rate=0)),
                    raise_server_exceptions=False) as made:
        yield made


@pytest.fixture(params=list(BODIES))
def session(client: TestClient, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return a fresh session (the origin, or a 2-D spiral) as the API created it."""
    resp = client.post("/api/sessions", json=BODIES[request.param])
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _get(client: TestClient, url: str) -> Any:
    resp = client.get(url)
    assert resp.status_code == 200, f"{url}: {resp.status_code} {resp.text[:300]}"
    return resp


def _assert_read_only(html: str, sid: str, where: str) -> None:
    """Check the HTML holds no write URL and not the session id."""
    assert sid not in html, f"{where} holds the session id"
    found = [html[max(0, m.start() - 60):m.end() + 60] for m in WRITE_URL.finditer(html)]
    assert found == [], f"{where} holds a write URL: {found}"


def _offered(s: dict[str, Any]) -> list[str]:
    """Return the tabs a viewer is offered: every view but the editing ones (and Points
    only for a 2-D problem)."""
    return [n for n, v in VIEWS.items() if not v.editing and (s["dataset"] or not v.two_d)]


def _check_values(client: TestClient, token: str, wrong: bool = False) -> str:
    """Return a¹ of the current step as pasted text (its first cell off when `wrong`)."""
    a = _get(client, f"/api/views/{token}/trace").json()["forward"][0]["a"]
    if wrong:
        a[0][0] += 0.25
    return "\n".join(",".join(repr(x) for x in row) for row in a)


def _check_query(client: TestClient, token: str, wrong: bool = False) -> dict[str, str]:
    """Return the query of a check of a¹ (right, or with its first cell wrong)."""
    return {"quantity": "a", "layer": "1", "tolerance": "5e-8",
            "values": _check_values(client, token, wrong)}


def _fragments(client: TestClient, s: dict[str, Any]) -> list[str]:
    """Return the URL of every fragment of the read-only page: panels, each offered view,
    the inspector of a neuron and of a weight, every copy dialog, a check, the recipe."""
    v = f"/v/{s['view_token']}"
    urls = [f"{v}/panels", f"{v}/views/none",
            f"{v}/inspect?unit=neuron&layer=1&index=0",
            f"{v}/inspect?unit=weight&transition=0&row=0&column=0",
            f"{v}/check?{urlencode(_check_query(client, s['view_token']))}"]
    views = [f"{v}/views/{name}" for name in _offered(s)]
    copies = {u for view in views for u in re.findall(rf"{v}/copy/[\w-]+\.\w+",
                                                       _get(client, view).text)}
    assert {f"{v}/copy/w-0.numpy", f"{v}/copy/a-1.csv", f"{v}/copy/a-1.latex"} <= copies
    if s["dataset"]:  # a generated dataset has a recipe (the origin's typed data has not)
        urls.append(f"{v}/recipe?hide=data")
    return urls + views + sorted(copies)


# ---------------------------------------------------------------- what the viewer gets
def test_the_view_page_holds_no_write_url(client, session):
    for tab in ["", *_offered(session)]:
        html = _get(client, f"/v/{session['view_token']}?tab={tab}").text
        _assert_read_only(html, session["id"], f"the page, tab {tab!r}")


def test_no_fragment_holds_a_write_url(client, session):
    for url in _fragments(client, session):
        _assert_read_only(_get(client, url).text, session["id"], url)
    if not session["dataset"]:  # typed data: no recipe, and the refusal names no id
        refused = client.get(f"/v/{session['view_token']}/recipe")
        assert refused.status_code == 409
        assert session["id"] not in refused.text


def test_the_check_by_token_gives_its_verdict_and_no_write_url(client, session):
    v = f"/v/{session['view_token']}/check"
    for wrong, verdict in ((False, "Every cell is right"), (True, "Cell (0, 0) is off")):
        resp = client.get(v, params=_check_query(client, session["view_token"], wrong))
        assert resp.status_code == 200, resp.text
        html = resp.text
        assert verdict in html
        _assert_read_only(html, session["id"], f"check (wrong={wrong})")


def test_the_viewer_is_offered_every_view_but_the_editing_ones(client, session):
    page = Elements(_get(client, f"/v/{session['view_token']}").text)
    tabs = [a["data-tab"] for tag, a in page.found if tag == "a" and "data-tab" in a]
    assert tabs == _offered(session)
    assert "share" in tabs
    assert not set(EDITING) & set(tabs)


@pytest.mark.parametrize("name", EDITING)
def test_an_editing_view_renders_nothing_editable_read_only(client, session, name):
    v = f"/v/{session['view_token']}"
    for url in (f"{v}/views/{name}", f"{v}?tab={name}"):
        html = _get(client, url).text
        body = Elements(html).with_id("view-body")
        assert body is not None
        assert "hidden" in body, f"{url}: the view is open"
        section = re.search(r'<section id="view-body".*?</section>', html, re.S)
        assert section is not None
        inside = Elements(section[0]).found
        assert [t for t, _ in inside if t in ("input", "select", "textarea", "button",
                                              "form")] == [], url
        assert f'id="panel-{name}"' not in html


# ---------------------------------------------------------------- no write by token
@pytest.mark.parametrize("path", HTML_WRITES)
def test_no_html_write_finds_a_session_by_its_token(client, session, path):
    store = client.app.state.service.store
    before, count = _get(client, f"/api/sessions/{session['id']}").json(), store.count()
    files = FILES if path.endswith("/csv") else None  # the upload: its route closes it
    resp = client.post(_with_token(path, session["view_token"]), data=FORM, files=files)
    assert resp.status_code == 404, f"{path}: {resp.status_code} {resp.text[:300]}"
    assert session["id"] not in resp.text
    assert _get(client, f"/api/sessions/{session['id']}").json() == before
    assert store.count() == count


@pytest.mark.parametrize("path", EDIT_READS)
def test_no_edit_page_route_finds_a_session_by_its_token(client, session, path):
    store = client.app.state.service.store
    count = store.count()
    resp = client.get(_with_token(path, session["view_token"]), follow_redirects=False)
    assert resp.status_code == 404, f"{path}: {resp.status_code}"
    assert store.count() == count  # /s/{token}/copy forked nothing


def test_the_routes_tried_are_every_write_and_every_view(client):
    assert {"/s/{session_id}/step", "/s/{session_id}/play", "/compare/{a}/{b}/step"} <= set(
        HTML_WRITES)
    assert len(HTML_WRITES) >= 20
    assert {"/v/{token}", "/v/{ref}/live", "/v/{token}/check"} <= set(VIEW_PATHS)


@pytest.mark.parametrize("path", VIEW_PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_method_on_a_view_path_is_405(client, session, path, method):
    before = _get(client, f"/api/sessions/{session['id']}").json()
    resp = client.request(method, _with_token(path, session["view_token"]), data=FORM)
    assert resp.status_code == 405, f"{method} {path}: {resp.status_code}"
    assert "GET" in resp.headers["allow"]
    assert _get(client, f"/api/sessions/{session['id']}").json() == before


# ---------------------------------------------------------------- links
def _href(page: Elements, ident: str) -> str:
    """Return the href of the element with this id (failing when there is none)."""
    found = page.with_id(ident)
    assert found is not None, f"no #{ident}"
    return str(found.get("href"))


def test_the_edit_pages_share_view_links_the_view_page(client, session):
    sid, token = session["id"], session["view_token"]
    for url in (f"/s/{sid}?tab=share", f"/s/{sid}/views/share"):
        page = Elements(_get(client, url).text)
        assert _href(page, "link-view").endswith(f"/v/{token}"), url
        assert _href(page, "link-edit").endswith(f"/s/{sid}"), url


def test_the_view_pages_share_view_has_no_edit_link(client, session):
    token = session["view_token"]
    for url in (f"/v/{token}?tab=share", f"/v/{token}/views/share"):
        page = Elements(_get(client, url).text)
        assert page.with_id("link-edit") is None, url
        assert _href(page, "link-view").endswith(f"/v/{token}"), url
        assert _href(page, "link-copy").endswith(f"/v/{token}/copy"), url


def test_the_old_read_only_link_redirects_to_the_view_page(client, session):
    resp = client.get(f"/s/{session['id']}/view", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/v/{session['view_token']}"


def test_the_copy_link_opens_a_new_editable_session(client, session):
    sid, token = session["id"], session["view_token"]
    resp = client.get(f"/v/{token}/copy", follow_redirects=False)
    assert resp.status_code == 303
    new = re.fullmatch(r"/s/([\w-]{22})", resp.headers["location"])
    assert new is not None
    assert new[1] != sid
    page = Elements(_get(client, f"/s/{new[1]}").text)
    assert page.with_id("play-btn") is not None  # the copy's page can train
    copy = _get(client, f"/api/sessions/{new[1]}").json()
    assert copy["parameters"] == session["parameters"]
    assert copy["view_token"] not in (token, new[1])
    assert _get(client, f"/api/sessions/{sid}").json() == session


def test_view_pages_send_the_policy_and_are_never_stored(client, session):
    for url in [f"/v/{session['view_token']}", *_fragments(client, session)]:
        resp = _get(client, url)
        assert resp.headers["cache-control"] == "no-store", url
        assert "script-src 'self'" in resp.headers["content-security-policy"], url
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"], url
        assert resp.headers["referrer-policy"] == "no-referrer", url  # the token is a secret


@pytest.mark.parametrize("who", ["unknown", "the id"])
def test_a_token_that_names_nothing_is_404(client, session, who):
    token = "A" * 22 if who == "unknown" else session["id"]
    resp = client.get(f"/v/{token}", headers={"Accept": "text/html"})
    assert resp.status_code == 404


# ---------------------------------------------------------------- a real server, Chromium
def _api_create(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{base_url}/api/sessions", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _api_step(base_url: str, sid: str) -> int:
    resp = httpx.post(f"{base_url}/api/sessions/{sid}/step", json={"iterations": 1}, timeout=10)
    assert resp.status_code == 200, resp.text
    return int(resp.json()["step"])


def test_the_live_stream_of_a_view_holds_no_id(base_url):
    s = _api_create(base_url, BODIES["origin"])
    with httpx.stream("GET", f"{base_url}/s/{s['view_token']}/live", timeout=10) as resp:
        assert resp.status_code == 404  # the edit page's stream: a token is not an id
    seen: list[str] = []
    with httpx.stream("GET", f"{base_url}/v/{s['view_token']}/live", timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "no-store"
        for line in resp.iter_lines():
            seen.append(line)
            if seen[-2:-1] == ["event: changed"]:
                break  # the first tick's news, and its data line
    assert any(line.startswith("data:") for line in seen), seen
    assert s["id"] not in "\n".join(seen)


# a 2-D diagram is painted on a canvas and its hidden neurons take no click at their centre
# (the bare SVG does): there the click is dispatched on the neuron itself
@pytest.mark.parametrize(("example", "dispatched"), [("origin", False), ("spiral", True)])
def test_in_chromium_the_view_page_only_reads_and_follows(contexts, base_url, shot, example,
                                                         dispatched):
    """Every tab and a neuron, clicked: only GETs, no console error; the step counter
    follows the owner's training through the API."""
    s = _api_create(base_url, BODIES[example])
    page: Page = contexts.new_page()
    sent: list[tuple[str, str]] = []
    page.on("request", lambda r: sent.append((r.method, r.url)))
    page.goto(f"/v/{s['view_token']}")
    counter = page.locator('[data-live="step"]')
    expect(counter).to_have_attribute("data-step", "0")
    view = page.locator("#view-body")
    for name in _offered(s):
        page.locator(f'.tabs a[data-tab="{name}"]').click()
        expect(view).to_have_attribute("data-tab", name)
        expect(view.locator(f"#panel-{name}")).to_be_visible()
    neuron = page.locator('#diagram g.node[data-l="1"][data-i="0"]')
    if dispatched:
        neuron.dispatch_event("click")
    else:
        neuron.click()
    expect(page.locator("#inspector .inspector-card h3")).to_contain_text("Neuron 0 of layer 1")
    for _ in range(2):
        step = _api_step(base_url, s["id"])
        expect(counter).to_have_attribute("data-step", str(step), timeout=LIVE_WAIT_MS)
    shot(page, "the read-only page, followed")
    assert [(m, u) for m, u in sent if m != "GET"] == []
    assert [u for _, u in sent if s["id"] in u] == []
    assert s["id"] not in page.content()


def _playing(base_url: str, sid: str) -> bool:
    """Return whether the session is marked playing (its controls' Play button, read
    without the page's release of a left play)."""
    html = httpx.get(f"{base_url}/s/{sid}/panels?parts=controls", timeout=10).text
    button = Elements(html).with_id("play-btn")
    assert button is not None
    return button.get("aria-pressed") == "true"


def test_a_view_tab_alone_never_trains_a_playing_session(contexts, base_url):
    """Played, with only a read-only tab open: the tab shows each step the owner takes
    through the API, exactly, and nothing else trains it."""
    s = _api_create(base_url, BODIES["origin"])
    played = httpx.post(f"{base_url}/s/{s['id']}/play", data={"action": "play"}, timeout=10)
    assert played.status_code == 200, played.text
    assert _playing(base_url, s["id"])
    viewer = contexts.new_page()
    viewer.goto(f"/v/{s['view_token']}")
    counter = viewer.locator('[data-live="step"]')
    expect(counter).to_have_attribute("data-step", "0")
    for want in (1, 2, 3):  # each shown means the tab's stream ticked while it played
        assert _api_step(base_url, s["id"]) == want  # nothing trained between two steps
        expect(counter).to_have_attribute("data-step", str(want), timeout=LIVE_WAIT_MS)
    assert httpx.get(f"{base_url}/api/views/{s['view_token']}", timeout=10).json()["step"] == 3
    assert _playing(base_url, s["id"])
