"""Session creation is rate-limited per client address: 429 with Retry-After when over.

Behind a proxy the address is the one uvicorn's ProxyHeadersMiddleware leaves in the scope:
X-Forwarded-For counts only when the peer is a trusted proxy.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.ratelimit import TokenBucket, creating_route
from app.main import create_app
from app.settings import Settings

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

LIMITS: dict[str, Any] = {"store": "memory", "create_rate": 2, "create_rate_window": 60.0}
PROXY = "10.0.0.2"


def _client(peer: str = "198.51.100.1", trusted: str | None = None, **overrides: Any) -> TestClient:
    app: Any = create_app(Settings(**{**LIMITS, **overrides}))
    if trusted is not None:
        app = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
    return TestClient(app, raise_server_exceptions=False, client=(peer, 40000))


def _create(client: TestClient, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/api/sessions", json={"example": "origin"}, headers=headers).status_code


def test_the_request_over_the_rate_gets_429_with_retry_after(assert_error: Any) -> None:
    client = _client()
    assert [_create(client), _create(client)] == [201, 201]
    resp = client.post("/api/sessions", json={"example": "origin"})
    err = assert_error(resp, 429, None, code="rate_limited", limit=2)
    assert 1 <= int(resp.headers["Retry-After"]) <= 30  # one token refills in 30 s
    assert "2 per 60 s" in err["message"]


def test_import_and_fork_draw_from_the_same_bucket(assert_error: Any) -> None:
    client = _client(create_rate=3)
    session = client.post("/api/sessions", json={"example": "origin"}).json()
    document = client.get(f"/api/sessions/{session['id']}/export").json()
    assert client.post("/api/sessions/import", json=document).status_code == 201
    assert client.post(f"/api/sessions/{session['id']}/fork", headers=JSON_TYPE).status_code == 201
    assert_error(client.post(f"/api/sessions/{session['id']}/fork", headers=JSON_TYPE), 429,
                 code="rate_limited")


def test_reading_and_stepping_are_not_limited() -> None:
    client = _client(create_rate=1)
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    for _ in range(5):
        assert client.get(f"/api/sessions/{sid}/trace").status_code == 200
        assert client.post(f"/api/sessions/{sid}/step", json={"iterations": 1}).status_code == 200


def test_a_rate_of_zero_disables_the_limit() -> None:
    client = _client(create_rate=0)
    assert {_create(client) for _ in range(5)} == {201}


def test_clients_are_counted_apart() -> None:
    first, second = _client(peer="198.51.100.1"), _client(peer="198.51.100.1")
    assert [_create(first), _create(first), _create(first)] == [201, 201, 429]
    assert _create(second) == 201  # another process, another bucket: per-process limits


def test_a_trusted_proxys_forwarded_for_names_the_client() -> None:
    client = _client(peer=PROXY, trusted=PROXY)
    assert [_create(client, "203.0.113.7") for _ in range(3)] == [201, 201, 429]
    assert _create(client, "203.0.113.8") == 201  # another client behind the same proxy


def test_an_untrusted_peers_forwarded_for_is_ignored() -> None:
    client = _client(peer="198.51.100.9", trusted=PROXY)
    codes = [_create(client, f"203.0.113.{n}") for n in range(3)]
    assert codes == [201, 201, 429]  # a forged header does not buy a fresh bucket


def test_an_htmx_form_gets_the_message_in_a_toast() -> None:
    client = _client(create_rate=1)
    form = {"example": "origin"}
    assert client.post("/new", data=form, headers={"HX-Request": "true"}).status_code == 204
    resp = client.post("/new", data=form, headers={"HX-Request": "true"})
    assert resp.status_code == 429
    assert resp.headers["HX-Reswap"] == "none"
    assert int(resp.headers["Retry-After"]) >= 1
    assert 'id="toast"' in resp.text
    assert "Too many new sessions" in resp.text


def test_a_plain_browser_request_gets_an_error_page() -> None:
    client = _client(create_rate=1)
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    resp = client.get(f"/s/{sid}/copy", headers={"Accept": "text/html"}, follow_redirects=False)
    assert resp.status_code == 429
    assert resp.headers["content-type"].startswith("text/html")
    assert "Too many new sessions" in resp.text
    assert "Retry-After" in resp.headers


@pytest.mark.parametrize(
    ("method", "path", "creates"),
    [
        ("POST", "/api/sessions", True),
        ("POST", "/api/sessions/import", True),
        ("POST", "/api/sessions/abc/fork", True),
        ("POST", "/new", True),
        ("GET", "/s/abc/copy", True),
        ("POST", "/import", True),
        ("POST", "/s/abc/compare", True),
        ("GET", "/r", True),
        ("GET", "/s/abc/recipe", False),
        ("GET", "/api/sessions", False),
        ("POST", "/api/sessions/abc/step", False),
        ("GET", "/s/abc/copy/w0.numpy", False),
        ("POST", "/compare/a/b/step", False),
    ],
)
def test_the_creating_routes_are_the_limited_ones(method: str, path: str, creates: bool) -> None:
    assert creating_route(method, path)[0] is creates


def test_the_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, window=10.0, clock=lambda: now[0])
    assert [bucket.take("a"), bucket.take("a")] == [0.0, 0.0]
    assert bucket.take("a") == pytest.approx(5.0)  # one token per 5 s
    now[0] = 5.0
    assert bucket.take("a") == 0.0
    now[0] = 100.0
    assert [bucket.take("a"), bucket.take("a"), bucket.take("a") > 0] == [0.0, 0.0, True]


def test_the_bucket_forgets_the_least_recently_used_client_first() -> None:
    bucket = TokenBucket(rate=1, window=60.0, max_keys=2)
    bucket.take("a")
    bucket.take("b")
    bucket.take("a")  # refused, and now the most recently used
    bucket.take("c")  # over max_keys: "b" goes
    assert bucket.take("a") > 0  # still remembered
    assert bucket.take("b") == 0.0  # forgotten: a full bucket again


def test_the_openapi_documents_the_429_of_the_creating_operations() -> None:
    paths = _client().get("/openapi.json").json()["paths"]
    for path in ("/api/sessions", "/api/sessions/import", "/api/sessions/{session_id}/fork"):
        response = paths[path]["post"]["responses"]["429"]
        assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
        assert "Retry-After" in response["headers"]
    assert "429" not in paths["/api/sessions/{session_id}/step"]["post"]["responses"]
    assert "429" not in paths["/api/sessions/{session_id}"]["get"]["responses"]
