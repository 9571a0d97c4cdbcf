"""Unexpected errors: a 500 in the one error shape, on a connection that stays usable, logged
once with the request's id; every response carries X-Request-ID.

The first tests run a real uvicorn (in a thread, on 127.0.0.1) and talk to it over one raw
keep-alive connection: the in-process test client cannot show a connection being closed.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import free_port

BROKEN_ID = "A" * 22  # a well-formed session id: the request reaches the service
CLIENT_ID = "client-req-42.a:b_c"


class Boom(RuntimeError):
    """The error the broken service raises."""


def _broken_app() -> FastAPI:
    """Return an app (memory store) whose service fails every read with `Boom`."""
    app = create_app(Settings(store="memory", create_rate=0))

    def get(session_id: str) -> Any:
        raise Boom(f"the store exploded reading {session_id}")

    app.state.service.get = get
    return app


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """Serve the broken app with uvicorn in a thread; yield its port."""
    server = uvicorn.Server(uvicorn.Config(_broken_app(), host="127.0.0.1", port=free_port(),
                                           log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn exited"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    try:
        yield server.config.port
    finally:
        server.should_exit = True
        thread.join(10)


def _connect(port: int) -> http.client.HTTPConnection:
    """Return one keep-alive connection that never silently reconnects."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.auto_open = 0  # a closed connection fails the next request instead of reopening
    conn.connect()
    return conn


def _get(conn: http.client.HTTPConnection, path: str,
         headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return resp, resp.read()


def test_an_unexpected_error_answers_500_in_the_one_shape_with_a_request_id(port: int) -> None:
    conn = _connect(port)
    try:
        resp, body = _get(conn, f"/api/sessions/{BROKEN_ID}")
    finally:
        conn.close()
    assert resp.status == 500
    assert resp.getheader("content-type", "").startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "field", "limit"}
    assert error["code"] == "internal"
    rid = resp.getheader("X-Request-ID")
    assert rid
    assert rid in error["message"]


def test_the_next_request_on_the_same_connection_is_answered(port: int) -> None:
    conn = _connect(port)
    try:
        failed, _ = _get(conn, f"/api/sessions/{BROKEN_ID}")
        sock = conn.sock
        answered, body = _get(conn, "/healthz")
        assert conn.sock is sock  # the same socket: nothing reopened it
    finally:
        conn.close()
    assert failed.status == 500
    assert answered.status == 200
    assert json.loads(body) == {"status": "ok"}


def test_the_error_is_logged_once_with_the_request_id(port: int,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    conn = _connect(port)
    try:
        resp, _ = _get(conn, f"/api/sessions/{BROKEN_ID}", {"X-Request-ID": CLIENT_ID})
        _get(conn, "/healthz")  # the server is done with the first request by now
    finally:
        conn.close()
    assert resp.getheader("X-Request-ID") == CLIENT_ID
    logged = [r for r in caplog.records
              if r.exc_info and isinstance(r.exc_info[1], Boom)]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert CLIENT_ID in logged[0].getMessage()
    assert logged[0].levelno == logging.ERROR


# ---------------------------------------------------------------------- request ids
@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store="memory", create_rate=0))) as c:
        yield c


def test_a_sane_incoming_request_id_is_kept_on_the_response(client: TestClient) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": CLIENT_ID})
    assert resp.headers["X-Request-ID"] == CLIENT_ID


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "line\tbreak", "ünï"])
def test_an_unsafe_or_missing_request_id_is_replaced_by_a_new_one(client: TestClient,
                                                                  given: str) -> None:
    headers = {b"X-Request-ID": given.encode()} if given else {}
    first = client.get("/api/sessions/" + BROKEN_ID, headers=headers).headers["X-Request-ID"]
    second = client.get("/api/sessions/" + BROKEN_ID, headers=headers).headers["X-Request-ID"]
    assert first != given
    assert first != second  # made for each request
    assert 8 <= len(first) <= 128
    assert first.isalnum()
