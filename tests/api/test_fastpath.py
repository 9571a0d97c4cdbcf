"""The step's fast path answers exactly as FastAPI's own handler does, and takes only the
plain requests (app/api/fastpath.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.api.sessions as sessions_api

# (body bytes, content type, If-Match) — plain requests and every kind of odd one
REQUESTS: list[tuple[bytes, str | None, str | None]] = [
    (b'{"iterations": 3}', "application/json", None),
    (b'{"iterations": 2}', "application/json; charset=utf-8", None),
    (b"", None, None),
    (b"", "text/plain", None),
    (b'{"iterations": 1.0}', "application/json", None),
    (b'{"iterations": 4}', "APPLICATION/JSON", None),
    (b'{"iterations": 4}', None, None),
    (b'{"iterations": 4}', "text/plain", None),
    (b'{"iterations": 4}', "application/vnd.api+json", None),
    (b'{"iterations": 0}', "application/json", None),
    (b'{"iterations": -2}', "application/json", None),
    (b'{"iterations": "5"}', "application/json", None),
    (b'{"iterations": true}', "application/json", None),
    (b'{"iterations": NaN}', "application/json", None),
    (b'{"iterations": 99999999}', "application/json", None),
    (b'{"iterations": 1, "extra": 2}', "application/json", None),
    (b'{"iterations": 1', "application/json", None),
    (b"[1]", "application/json", None),
    (b"null", "application/json", None),
    (b"{}", "application/json", None),
    ('{"iterations": 1}'.encode("utf-16"), "application/json", None),
    (b'{"iterations": 1}', "application/json", '"1"'),
    (b'{"iterations": 1}', "application/json", "W/\"99\""),
    (b'{"iterations": 1}', "application/json", "*"),
    (b'{"iterations": 1}', "application/json", "not-a-version"),
]


def _send(client: TestClient, session_id: str, body: bytes, kind: str | None,
          if_match: str | None) -> tuple[int, Any, str | None]:
    headers = {}
    if kind is not None:
        headers["content-type"] = kind
    if if_match is not None:
        headers["if-match"] = if_match
    resp = client.post(f"/api/sessions/{session_id}/step", content=body, headers=headers)
    return resp.status_code, resp.json(), resp.headers.get("etag")


def _answers(client: TestClient, session_ids: list[str]) -> list[tuple[int, Any, str | None]]:
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    out = [_send(client, sid, *request) for request in REQUESTS]
    out += [_send(client, other, b'{"iterations": 1}', "application/json", None)
            for other in session_ids]
    return out


def test_every_step_request_gets_the_answer_fastapi_gives(make_client: Any) -> None:
    unknown = ["A" * 22, "short", "not!valid!chars!here!!"]
    fast = _answers(make_client(fast_paths=True), unknown)
    generic = _answers(make_client(fast_paths=False), unknown)
    for request, a, b in zip(REQUESTS + [(b"", None, u) for u in unknown], fast, generic,
                             strict=True):
        assert a == b, request


def test_plain_step_requests_take_the_fast_path(make_client: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[bool] = []
    real = sessions_api.json_body

    async def spy(request: Any, model: Any) -> Any:
        body = await real(request, model)
        answered.append(body is not None)
        return body

    monkeypatch.setattr(sessions_api, "json_body", spy)
    client = make_client()
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    plain = _send(client, sid, b'{"iterations": 2}', "application/json", None)
    empty = _send(client, sid, b"", "application/json", None)
    odd = _send(client, sid, b'{"iterations": 2, "x": 1}', "application/json", None)
    assert answered == [True, True, False]
    assert (plain[0], plain[1]["step"]) == (200, 2)
    assert (empty[0], empty[1]["step"]) == (200, 3)
    assert odd[0] == 422


def test_the_fast_path_is_off_when_the_setting_says_so(make_client: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    async def spy(request: Any, model: Any) -> Any:
        calls.append(model)
        return None

    monkeypatch.setattr(sessions_api, "json_body", spy)
    client = make_client(fast_paths=False)
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    status, body, _ = _send(client, sid, b'{"iterations": 2}', "application/json", None)
    assert (status, body["step"]) == (200, 2)
    assert calls == []
