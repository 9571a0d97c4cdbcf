"""What a browser is told and refused (app/api/browser_policy.py): security headers on every
route family, cross-site changes refused, and an API that takes JSON only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

JSON_TYPE = {"Content-Type": "application/json"}
HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}
CSP_DIRECTIVES = ("default-src 'self'", "script-src 'self'", "img-src 'self' data:",
                  "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                  "form-action 'self'", "object-src 'none'", "style-src-elem 'self'")
SERVER = "http://testserver"  # TestClient's origin (its Host header is `testserver`)
CHANGES = ("step", "reset", "new")  # HTML routes that change or create sessions
Get = Callable[[TestClient, str], httpx.Response]


def _csp(resp: httpx.Response) -> dict[str, str]:
    """Return the response's Content-Security-Policy as {directive: sources}."""
    directives = {}
    for part in resp.headers.get("content-security-policy", "").split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            directives[name] = sources
    return directives


def _routes(sid: str, token: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Return one request of every route family: name → (method, url, keyword arguments)."""
    return {
        "landing page": ("GET", "/", {"headers": HTML}),
        "session page": ("GET", f"/s/{sid}", {"headers": HTML}),
        "fragment": ("GET", f"/s/{sid}/views/matrices", {"headers": HTMX}),
        "read-only page": ("GET", f"/v/{token}", {"headers": HTML}),
        "read-only fragment": ("GET", f"/v/{token}/views/matrices", {"headers": HTMX}),
        "compare page": ("GET", f"/compare/{sid}/{sid}", {"headers": HTML}),
        "recipe link": ("GET", "/r?dataset=circle", {"headers": HTML}),
        "import form": ("POST", "/import", {"headers": HTMX, "files": {
            "file": ("s.json", b"{}", "application/json")}}),
        "api create": ("POST", "/api/sessions", {"json": {"example": "origin"}}),
        "api get": ("GET", f"/api/sessions/{sid}", {}),
        "api read-only": ("GET", f"/api/views/{token}", {}),
        "healthz": ("GET", "/healthz", {}),
        "readyz": ("GET", "/readyz", {}),
        "static": ("GET", "/static/css/app.css", {}),
        "openapi": ("GET", "/openapi.json", {}),
        "404 page": ("GET", "/no/such/page", {"headers": HTML}),
        "docs": ("GET", "/docs", {"headers": HTML}),
    }


def _call(client: TestClient, origin: dict[str, Any], name: str) -> httpx.Response:
    method, url, kwargs = _routes(origin["id"], origin["view_token"])[name]
    if name in ("404 page", "import form"):  # HTML refusals: not the fixture's JSON shape
        client = TestClient(client.app)
    return client.request(method, url, **kwargs)


@pytest.mark.parametrize("name", list(_routes("x", "y")))
def test_every_response_says_nosniff_and_no_referrer(client: TestClient,
                                                     origin: dict[str, Any], name: str) -> None:
    resp = _call(client, origin, name)
    assert resp.headers["x-content-type-options"] == "nosniff", name
    assert resp.headers["referrer-policy"] == "no-referrer", name


@pytest.mark.parametrize("name", ["landing page", "session page", "fragment", "read-only page",
                                  "read-only fragment", "compare page", "404 page"])
def test_every_html_page_has_the_strict_csp(client: TestClient, origin: dict[str, Any],
                                            name: str) -> None:
    resp = _call(client, origin, name)
    assert resp.headers["content-type"].startswith("text/html"), name
    csp = _csp(resp)
    for directive in CSP_DIRECTIVES:
        key, sources = directive.split(" ", 1)
        assert csp.get(key) == sources, (name, key, csp)
    assert "'unsafe-eval'" not in resp.headers["content-security-policy"]
    docs = _call(client, origin, "docs")  # main.py's own policy, for Swagger UI, stays
    assert len(docs.headers.get_list("content-security-policy")) == 1
    assert _csp(docs)["worker-src"] == "'self' blob:"


@pytest.mark.parametrize("name", ["session page", "fragment", "read-only page",
                                  "read-only fragment", "compare page", "api create",
                                  "api get", "api read-only"])
def test_session_pages_and_session_json_are_never_stored(client: TestClient,
                                                         origin: dict[str, Any],
                                                         name: str) -> None:
    assert _call(client, origin, name).headers.get_list("cache-control") == ["no-store"]
    static = _call(client, origin, "static")  # static files keep their own caching
    assert "no-store" not in static.headers.get("cache-control", "")
    assert static.headers.get("etag")


# ---------------------------------------------------------------- cross-site changes
def _change(client: TestClient, sid: str, route: str, headers: dict[str, str]) -> httpx.Response:
    """Post the form of a state-changing HTML route (as htmx does) with these headers."""
    url = "/new" if route == "new" else f"/s/{sid}/{route}"
    form = {"example": "origin"} if route == "new" else {}
    return client.post(url, data=form, headers={**HTMX, **headers}, follow_redirects=False)


def _state(client: TestClient, sid: str) -> tuple[int, int, int]:
    """Return (sessions stored, the session's step, its version)."""
    body = client.get(f"/api/sessions/{sid}").json()
    return client.app.state.service.store.count(), body["step"], body["version"]


@pytest.fixture
def trained(client: TestClient, origin: dict[str, Any]) -> str:
    """Return the origin session's id after 3 steps (so that a reset would show)."""
    resp = client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 3})
    assert resp.status_code == 200
    return str(origin["id"])


ACCEPTED = [
    {"Origin": SERVER},
    {"Origin": SERVER, "Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": SERVER, "Sec-Fetch-Site": "same-site"},
    {},  # curl, a script: no Origin, no Sec-Fetch-Site
]


def _accepted(client: TestClient, sid: str, route: str) -> None:
    """Check that each same-origin, same-site or originless post goes through."""
    for headers in ACCEPTED:
        before = _state(client, sid)
        resp = _change(client, sid, route, headers)
        assert resp.status_code in (200, 204), (headers, resp.text)
        assert _state(client, sid) != before, headers


@pytest.mark.parametrize("route", CHANGES)
def test_a_cross_site_form_post_is_refused_and_changes_nothing(
        client: TestClient, trained: str, route: str, assert_error: Any) -> None:
    before = _state(client, trained)
    resp = _change(client, trained, route, {"Sec-Fetch-Site": "cross-site",
                                            "Origin": "https://elsewhere.example"})
    assert_error(resp, 403, "Sec-Fetch-Site", code="cross_site")
    assert _state(client, trained) == before
    _accepted(client, trained, route)
    page = client.get(f"/s/{trained}", headers={**HTML, "Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 200  # a link from another site still opens the page


@pytest.mark.parametrize("route", CHANGES)
def test_a_foreign_origin_without_fetch_metadata_is_refused(
        client: TestClient, trained: str, route: str, assert_error: Any) -> None:
    before = _state(client, trained)
    resp = _change(client, trained, route, {"Origin": "http://testserver.example"})
    err = assert_error(resp, 403, "Origin", code="cross_site")
    assert "http://testserver.example" in err["message"]
    assert _state(client, trained) == before
    _accepted(client, trained, route)


def test_an_origin_on_another_port_of_the_host_is_refused(client: TestClient, trained: str,
                                                         assert_error: Any) -> None:
    resp = _change(client, trained, "step", {"Origin": "http://testserver:8081",
                                             "Host": "testserver:8080"})
    assert_error(resp, 403, "Origin", code="cross_site")


# ---------------------------------------------------------------- JSON only
@pytest.mark.parametrize("kind", ["text/plain", None])
def test_an_api_post_that_is_not_json_is_refused_with_415(
        client: TestClient, trained: str, kind: str | None, assert_error: Any) -> None:
    before = _state(client, trained)
    headers = {"Content-Type": kind} if kind else {}
    resp = client.post(f"/api/sessions/{trained}/reset", content=b"", headers=headers)
    err = assert_error(resp, 415, "Content-Type", code="unsupported_media_type")
    assert "application/json" in err["message"]
    assert _state(client, trained) == before
    for json_type in ("application/json", "application/json; charset=utf-8"):
        empty = client.post(f"/api/sessions/{trained}/reset", headers={"Content-Type": json_type})
        assert empty.status_code == 200, empty.text  # an empty body, said to be JSON
        assert empty.json()["step"] == 0


@pytest.mark.parametrize("origin_header", ["http://[", "http://[evil]", "null",
                                           "https://sibling.testserver"])
def test_a_malformed_null_or_sibling_origin_is_refused_and_changes_nothing(
        client: TestClient, trained: str, origin_header: str, assert_error: Any) -> None:
    """A bad Origin is foreign, never a 500; same-site with another host's Origin too."""
    before = _state(client, trained)
    headers = {"Origin": origin_header}
    if origin_header.startswith("https://sibling"):
        headers["Sec-Fetch-Site"] = "same-site"
    resp = _change(client, trained, "step", headers)
    assert_error(resp, 403, "Origin", code="cross_site")
    assert _state(client, trained) == before
