"""Fixtures for the JSON API tests: an app with small limits, clients, the origin session.

Every client made here records each error response it receives; when the test ends, each
of them must have the one error shape of DESIGN.md, {"error": {code, message, field,
limit}}, whether or not the test looked at it. Helpers (`assert_error`, `strict_json`)
are fixtures because test modules here are not a package.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

SMALL_LIMITS: dict[str, Any] = {
    "store": "memory",
    "max_transitions": 10,
    "max_neurons": 64,
    "max_parameters": 5000,
    "max_observations": 200,
    "max_data_cells": 2000,
    "max_iterations": 20000,
    "max_body_bytes": 256 * 1024,
    "max_sessions": 50,
    "history_points": 50,
    "step_time_budget": 2.0,
    "create_rate": 0,  # the rate limit has tests of its own (test_ratelimit.py)
}
ERROR_KEYS = {"code", "message", "field", "limit"}

ClientFactory = Callable[..., TestClient]
ErrorAssert = Callable[..., dict[str, Any]]


def check_error_shape(resp: httpx.Response) -> dict[str, Any]:
    """Return the error body after checking it has exactly the one error shape."""
    where = f"{resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text}"
    assert resp.headers.get("content-type", "").startswith("application/json"), where
    body = resp.json()
    assert isinstance(body, dict), where
    assert set(body) == {"error"}, where
    err = body["error"]
    assert isinstance(err, dict), where
    assert set(err) == ERROR_KEYS, where
    assert isinstance(err["code"], str), where
    assert err["code"], where
    assert isinstance(err["message"], str), where
    assert err["message"], where
    assert err["field"] is None or isinstance(err["field"], str), where
    return err


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON token {token!r}")


def parse_strict(text: str) -> Any:
    """Parse JSON refusing NaN, Infinity and -Infinity (which json.loads accepts)."""
    return json.loads(text, parse_constant=_reject_constant)


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Return a factory of clients of fresh apps (small limits, overridable per test)."""
    made: list[TestClient] = []
    errors: list[httpx.Response] = []

    def record(resp: httpx.Response) -> None:
        if resp.status_code >= 400:
            resp.read()
            errors.append(resp)

    def factory(**overrides: Any) -> TestClient:
        settings = Settings(**{**SMALL_LIMITS, **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.event_hooks = {"request": [], "response": [record]}
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
    for resp in errors:
        check_error_shape(resp)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """Return a client of an app with the small test limits."""
    return make_client()


@pytest.fixture
def create(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Return a function that creates a session (201 expected) and returns its JSON."""

    def _create(body: dict[str, Any], on: TestClient | None = None) -> dict[str, Any]:
        resp = (on or client).post("/api/sessions", json=body)
        assert resp.status_code == 201, resp.text
        session: dict[str, Any] = resp.json()
        return session

    return _create


@pytest.fixture
def origin(create: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Return the origin session (the symmetry question) as created."""
    return create({"example": "origin"})


@pytest.fixture
def small_spec() -> dict[str, Any]:
    """Return a full create body: a random-initialised 2-3-3-2 net with the origin's data."""
    return {
        "layers": [2, 3, 3, 2],
        "hidden_activation": "sigmoid",
        "output_activation": "sigmoid",
        "loss": "sse",
        "init": {"scheme": "xavier_uniform", "seed": 7, "bias": 0.0},
        "optimizer": {"name": "sgd", "learning_rate": 0.5},
        "inputs": [[0.8, 0.4], [0.3, 0.3]],
        "targets": [[0.2, 0.4], [1.0, 0.0]],
    }


@pytest.fixture
def assert_error() -> ErrorAssert:
    """Return assert_error(resp, status, field=None, *, code=None, limit=...) → error body."""
    unset = object()

    def _assert_error(resp: httpx.Response, status: int, field: str | None = None, *,
                      code: str | None = None, limit: Any = unset) -> dict[str, Any]:
        assert resp.status_code == status, f"expected {status}, got {resp.status_code}: " \
                                            f"{resp.text}"
        err = check_error_shape(resp)
        assert err["field"] == field, err
        if code is not None:
            assert err["code"] == code, err
        if limit is not unset:
            assert err["limit"] == limit, err
        return err

    return _assert_error


@pytest.fixture
def strict_json() -> Callable[[httpx.Response], Any]:
    """Return a parser of a response body that fails on NaN/Infinity tokens."""

    def _strict(resp: httpx.Response) -> Any:
        assert resp.status_code < 400, resp.text
        return parse_strict(resp.text)

    return _strict
