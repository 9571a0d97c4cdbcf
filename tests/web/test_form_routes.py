"""What every HTML route owes, whatever it does: a route that names two sessions changes
neither unless both exist, a file sent with any form is closed after the response (the
suite turns an unclosed file's ResourceWarning into an error), and a page refused for a
store that does not answer says when to try again."""

from __future__ import annotations

import gc
import io

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.sessions.errors import STORE_RETRY_SECONDS, StoreUnavailable
from app.settings import Settings

UNKNOWN = "A" * 22  # the shape of an id, naming no session


def _client() -> TestClient:
    return TestClient(create_app(Settings(store="memory", create_rate=0)))


def _step(client: TestClient, sid: str) -> int:
    step: int = client.get(f"/api/sessions/{sid}").json()["step"]
    return step


def test_stepping_a_pair_with_an_unknown_session_changes_neither() -> None:
    with _client() as client:
        sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
        for a, b in ((sid, UNKNOWN), (UNKNOWN, sid)):
            assert client.post(f"/compare/{a}/{b}/step?n=5").status_code == 404
        assert _step(client, sid) == 0


def test_a_file_sent_to_a_form_route_that_reads_none_is_closed() -> None:
    with _client() as client:
        sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
        resp = client.post(f"/s/{sid}/step", files={"file": ("a.txt", io.BytesIO(b"x" * 64))})
        assert resp.status_code == 200
        assert _step(client, sid) == 1
    gc.collect()  # an unclosed SpooledTemporaryFile warns here, which the suite fails


def test_a_page_whose_store_does_not_answer_says_when_to_try_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML page of a 503 carries Retry-After as the JSON refusal does."""
    with _client() as client:
        sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
        service = client.app.state.service

        def unavailable(*_args: object) -> None:
            raise StoreUnavailable()

        monkeypatch.setattr(service, "release_play", unavailable)
        monkeypatch.setattr(service, "get", unavailable)
        for headers in ({"Accept": "text/html"}, {"Accept": "application/json"}):
            resp = client.get(f"/s/{sid}", headers=headers)
            assert resp.status_code == 503
            assert resp.headers["retry-after"] == str(STORE_RETRY_SECONDS)
