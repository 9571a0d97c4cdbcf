"""What every HTML form route owes, whatever it does: a route that names two sessions
changes neither unless both exist, and a file sent with any form is closed after the
response (the suite turns an unclosed file's ResourceWarning into an error)."""

from __future__ import annotations

import gc
import io

from fastapi.testclient import TestClient

from app.main import create_app
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
