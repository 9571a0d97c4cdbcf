"""View tokens: every session's read-only name, `/api/views/{token}`, and what it cannot do.

The session id lets its holder change the session; the view token lets its holder read
it, through the same reads as the id (the session without its `id`, the trace, the phase
stepper, the history, the diagnostics, the export) and nothing else. A token is not an
id: no write route finds a session by it, and no read by it shows the id.
"""

from __future__ import annotations

import re
import secrets
from types import SimpleNamespace
from typing import Any

import pytest

from app.main import create_app
from app.sessions import view_links
from app.sessions.errors import StorageFull, StoreUnavailable
from app.settings import Settings

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
READS = ["", "/trace", "/trace?observations=1&augmented=true", "/phase", "/history",
         "/history?max_points=10", "/diagnostics", "/export", "/export?format=python"]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MALFORMED_TOKENS = ["short", "A" * 21 + "!", "A" * 23, "%2E%2E%2Fx", "..%2Fx", "A" * 21 + "%2F"]
# a valid body of each write that takes one (the others get `{}`, which they accept)
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/sessions/{session_id}/step"): {"iterations": 3},
    ("PATCH", "/api/sessions/{session_id}"): {"title": "renamed",
                                                  "optimizer": {"learning_rate": 0.25}},
    ("POST", "/api/sessions/{session_id}/reinitialize"): {"scheme": "xavier_uniform",
                                                          "seed": 3},
    ("POST", "/api/sessions/{session_id}/phase"): {"action": "next"},
    ("POST", "/api/sessions/{session_id}/fork"): {"title": "a copy"},
    ("POST", "/api/sessions/{session_id}/csv"): {
        "text": "x1,x2,y1,y2\n0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8\n",
        "inputs": ["x1", "x2"], "targets": ["y1", "y2"]},
    ("POST", "/api/sessions/{session_id}/check"): {
        "quantity": "a", "layer": 1, "tolerance": 1e-6,
        "values": [[0.9002495108803148] * 3, [0.8320183851339245] * 3]},
}


def _operations(prefix: str, *, writes: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (method, path, operation) of the OpenAPI whose path starts with `prefix`:
    its writes (every method but GET) or its reads."""
    schema = create_app(Settings(store="memory")).openapi()
    return [(method.upper(), path, op) for path, ops in schema["paths"].items()
            if path.startswith(prefix) for method, op in ops.items()
            if (method.upper() != "GET") == writes]


SESSION_WRITES = _operations("/api/sessions/{session_id}", writes=True)
VIEW_PATHS = sorted({path for _, path, _ in _operations("/api/views/", writes=False)})


def _ids(ops: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{method} {path}" for method, path, _ in ops]


def _read(client: Any, url: str) -> Any:
    resp = client.get(url)
    assert resp.status_code == 200, f"{url}: {resp.status_code} {resp.text}"
    return resp


def _body_of(resp: Any) -> Any:
    """Return a read's content: its JSON, or its text (the NumPy script)."""
    if resp.headers["content-type"].startswith("application/json"):
        return resp.json()
    return resp.text


def _without(body: Any, *keys: str) -> Any:
    """Return a JSON object without `keys` (anything else as it is)."""
    return {k: v for k, v in body.items() if k not in keys} if isinstance(body, dict) else body


@pytest.fixture
def trained(client: Any, origin: dict[str, Any]) -> dict[str, Any]:
    """Return the origin session after 3 steps (history, optimiser state, a new version)."""
    resp = client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 3})
    assert resp.status_code == 200, resp.text
    return dict(_read(client, f"/api/sessions/{origin['id']}").json())


# ---------------------------------------------------------------- the token
def test_create_returns_a_view_token_distinct_from_the_id(origin):
    token = origin["view_token"]
    assert TOKEN.fullmatch(token), token
    assert token != origin["id"]
    assert origin["id"] not in token
    assert token not in origin["id"]


def test_the_token_is_stable_across_reads_and_changes(client, origin):
    sid = origin["id"]
    client.post(f"/api/sessions/{sid}/step", json={"iterations": 2})
    client.patch(f"/api/sessions/{sid}", json={"title": "renamed"})
    tokens = {_read(client, f"/api/sessions/{sid}").json()["view_token"] for _ in range(3)}
    tokens.add(_read(client, f"/api/views/{origin['view_token']}").json()["view_token"])
    assert tokens == {origin["view_token"]}


def test_every_session_public_response_carries_the_token(client, origin):
    sid, token = origin["id"], origin["view_token"]
    answers = [client.patch(f"/api/sessions/{sid}", json={"title": "x"}),
               client.post(f"/api/sessions/{sid}/reset", headers=JSON_TYPE),
               client.post(f"/api/sessions/{sid}/undo", headers=JSON_TYPE),
               client.post(f"/api/sessions/{sid}/redo", headers=JSON_TYPE),
               client.post(f"/api/sessions/{sid}/reinitialize", json={"seed": 1})]
    for resp in answers:
        assert resp.status_code == 200, resp.text
        assert resp.json()["view_token"] == token


def test_two_sessions_have_two_tokens(create):
    one, two = create({"example": "origin"}), create({"example": "origin"})
    assert one["view_token"] != two["view_token"]


def test_a_fork_has_a_token_of_its_own(client, origin):
    fork = client.post(f"/api/sessions/{origin['id']}/fork", json={})
    assert fork.status_code == 201, fork.text
    assert TOKEN.fullmatch(fork.json()["view_token"])
    assert fork.json()["view_token"] not in (origin["view_token"], fork.json()["id"])


# ---------------------------------------------------------------- the reads
def test_the_view_is_the_session_without_its_id(client, trained):
    view = _read(client, f"/api/views/{trained['view_token']}").json()
    assert "id" not in view
    assert view == {k: v for k, v in trained.items() if k != "id"}
    assert view["step"] == 3


def test_the_view_sends_the_sessions_version_as_etag(client, trained):
    resp = _read(client, f"/api/views/{trained['view_token']}")
    assert resp.headers["etag"] == f'"{trained["version"]}"'


@pytest.mark.parametrize("read", READS)
def test_each_read_by_token_answers_what_the_read_by_id_answers(client, trained, read):
    by_id = _read(client, f"/api/sessions/{trained['id']}{read}")
    by_token = _read(client, f"/api/views/{trained['view_token']}{read}")
    assert by_token.headers["content-type"] == by_id.headers["content-type"]
    # the session read less its id; two exports differ only in when they were made
    assert _without(_body_of(by_token), "exported_at") == _without(_body_of(by_id), "id",
                                                                   "exported_at")


@pytest.mark.parametrize("read", READS)
def test_no_read_by_token_shows_the_id(client, trained, read):
    resp = _read(client, f"/api/views/{trained['view_token']}{read}")
    sid = trained["id"]
    assert sid not in resp.text
    for name, value in resp.headers.items():
        assert sid[:8] not in value, f"{name}: {value}"  # nor a part of it (a file name)


def test_the_export_by_token_is_named_after_the_token(client, trained):
    resp = _read(client, f"/api/views/{trained['view_token']}/export")
    disposition = resp.headers["content-disposition"]
    assert f"backprop-playground-{trained['view_token'][:8]}.json" in disposition


@pytest.mark.parametrize("read", READS)
def test_reads_by_token_are_never_stored(client, trained, read):
    resp = _read(client, f"/api/views/{trained['view_token']}{read}")
    assert resp.headers["cache-control"] == "no-store"


def test_a_refusal_by_token_is_never_stored(client):
    resp = client.get("/api/views/" + "A" * 22)
    assert resp.status_code == 404
    assert resp.headers["cache-control"] == "no-store"


def test_the_view_follows_the_session(client, origin):
    token = origin["view_token"]
    assert _read(client, f"/api/views/{token}").json()["step"] == 0
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 4})
    assert _read(client, f"/api/views/{token}").json()["step"] == 4
    history = _read(client, f"/api/views/{token}/history").json()
    assert history["total_points"] == 4
    assert history == _read(client, f"/api/sessions/{origin['id']}/history").json()


# ---------------------------------------------------------------- no write by token
@pytest.mark.parametrize(("method", "path", "operation"), SESSION_WRITES,
                         ids=_ids(SESSION_WRITES))
def test_no_write_finds_a_session_by_its_token(client, create, assert_error, method, path,
                                               operation):
    body = BODIES.get((method, path), {})
    if operation.get("requestBody", {}).get("required"):
        assert (method, path) in BODIES, f"{method} {path}: give it a valid body in BODIES"
    session, other = create({"example": "origin"}), create({"example": "origin"})
    control = client.request(method, path.format(session_id=other["id"]), json=body,
                             headers=JSON_TYPE)
    assert control.status_code not in (404, 405, 415, 422), control.text  # the body is valid
    store = client.app.state.service.store
    before, count = _read(client, f"/api/sessions/{session['id']}").json(), store.count()
    resp = client.request(method, path.format(session_id=session["view_token"]), json=body,
                          headers=JSON_TYPE)
    assert_error(resp, 404, None, code="not_found")
    assert session["id"] not in resp.text
    after = _read(client, f"/api/sessions/{session['id']}").json()
    assert (after["version"], after["parameters"]) == (before["version"], before["parameters"])
    assert after == before
    assert store.count() == count


def test_the_writes_tried_are_every_write_of_a_session():
    tried = {(method, path) for method, path, _ in SESSION_WRITES}
    assert set(BODIES) <= tried  # no body for a write that is gone
    assert ("DELETE", "/api/sessions/{session_id}") in tried
    assert ("POST", "/api/sessions/{session_id}/step") in tried
    assert len(tried) >= 11


def test_views_routes_are_reads_only():
    assert _operations("/api/views", writes=True) == []
    assert "/api/views/{token}" in VIEW_PATHS
    assert len(VIEW_PATHS) == 6


@pytest.mark.parametrize("path", VIEW_PATHS)
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_a_write_method_on_a_view_path_is_405(client, origin, assert_error, path, method):
    url = path.format(token=origin["view_token"])
    resp = client.request(method, url, json={}, headers=JSON_TYPE)
    assert_error(resp, 405, None)
    allowed = {m.strip() for m in resp.headers["allow"].split(",")}
    assert "GET" in allowed
    assert not allowed & set(WRITE_METHODS), allowed
    after = _read(client, f"/api/sessions/{origin['id']}").json()
    assert after == origin


# ---------------------------------------------------------------- unknown tokens
@pytest.mark.parametrize("read", READS)
def test_an_unknown_token_is_404(client, assert_error, read):
    assert_error(client.get(f"/api/views/{'A' * 22}{read}"), 404, None, code="not_found")


@pytest.mark.parametrize("bad", MALFORMED_TOKENS)
def test_a_malformed_token_is_404(client, assert_error, bad):
    assert_error(client.get(f"/api/views/{bad}"), 404, None)
    assert_error(client.get(f"/api/views/{bad}/trace"), 404, None)


def test_the_id_is_not_a_token(client, origin, assert_error):
    for read in READS:
        assert_error(client.get(f"/api/views/{origin['id']}{read}"), 404, None,
                     code="not_found")


def test_an_unknown_token_is_refused_as_an_unknown_id_is(client, assert_error):
    by_token = assert_error(client.get("/api/views/" + "A" * 22), 404, None)
    by_id = assert_error(client.get("/api/sessions/" + "A" * 22), 404, None)
    assert by_token == by_id  # the refusal says nothing about what exists


@pytest.mark.parametrize("read", READS)
def test_a_deleted_sessions_token_is_404(client, origin, assert_error, read):
    assert client.delete(f"/api/sessions/{origin['id']}").status_code == 204
    assert_error(client.get(f"/api/views/{origin['view_token']}{read}"), 404, None,
                 code="not_found")


# ---------------------------------------------------------------- sessions made before tokens
@pytest.fixture
def proposals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Return the tokens `view_links` will propose, in order (two fresh random ones)."""
    made = [secrets.token_urlsafe(16), secrets.token_urlsafe(16)]
    queue = iter(list(made))
    monkeypatch.setattr(view_links, "secrets", SimpleNamespace(
        token_urlsafe=lambda _nbytes: next(queue)))
    return made


def test_a_new_session_has_its_token_from_the_start(client):
    """Made by the service alone (as the HTML form makes it), before any read."""
    service = client.app.state.service
    session = service.create({"example": "origin"})
    recorded = service.store.view_token(session.id, secrets.token_urlsafe(16))
    assert recorded is not None
    assert service.store.session_of_view(recorded) == session.id
    assert _read(client, f"/api/sessions/{session.id}").json()["view_token"] == recorded


def test_a_session_without_a_token_gets_one_on_its_first_read(client, proposals,
                                                              monkeypatch):
    service = client.app.state.service
    monkeypatch.setattr(service, "_draw_view_token", lambda _id: None)  # the code before
    session = service.create({"example": "origin"})  # tokens: a session made without one
    first, second = proposals
    assert service.store.session_of_view(first) is None
    body = _read(client, f"/api/sessions/{session.id}").json()
    assert body["view_token"] == first  # the proposal was recorded: there was no token
    assert service.store.session_of_view(first) == session.id
    again = _read(client, f"/api/sessions/{session.id}").json()
    assert again["view_token"] == first
    assert service.store.session_of_view(second) is None  # the second proposal was not
    view = _read(client, f"/api/views/{first}").json()
    assert view == {k: v for k, v in again.items() if k != "id"}


# ---------------------------------------------------------------- a store that cannot record
def _tokenless(client, monkeypatch, failure) -> str:
    """Return the id of a session without a token, in a store that now refuses to record
    one, raising `failure` (as a full or silent store does)."""
    service = client.app.state.service
    monkeypatch.setattr(service, "_draw_view_token", lambda _id: None)
    session = service.create({"example": "origin"})

    def refuse(_id: str, _proposed: str) -> str:
        raise failure()

    monkeypatch.setattr(service.store, "view_token", refuse)
    return str(session.id)


@pytest.mark.parametrize("failure", [StorageFull, StoreUnavailable])
def test_a_change_is_answered_though_its_first_token_cannot_be_recorded(
        client, monkeypatch, failure):
    """The change is made: its answer says so (view_token null), never "nothing changed"."""
    sid = _tokenless(client, monkeypatch, failure)
    resp = client.patch(f"/api/sessions/{sid}", json={"title": "renamed"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["view_token"] is None
    assert resp.json()["title"] == client.app.state.service.get(sid).title == "renamed"


def test_the_share_view_reads_though_the_first_token_cannot_be_recorded(client, monkeypatch):
    sid = _tokenless(client, monkeypatch, StorageFull)
    page = client.get(f"/s/{sid}?tab=share")
    assert page.status_code == 200
    assert 'id="link-view-unavailable"' in page.text
    assert 'id="link-view"' not in page.text
