"""The running image answers like the app: probes, pages, static files, the origin's trace.

Run against a container by the container check (APP_URL set); see conftest.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@pytest.fixture
def api(app_url: str) -> Iterator[httpx.Client]:
    """Yield a client of the container."""
    with httpx.Client(base_url=app_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def origin(api: httpx.Client) -> Iterator[dict[str, Any]]:
    """Yield the origin session created in the container; delete it afterwards."""
    resp = api.post("/api/sessions", json={"example": "origin"})
    assert resp.status_code == 201, resp.text
    session: dict[str, Any] = resp.json()
    yield session
    api.delete(f"/api/sessions/{session['id']}")


def test_container_answers_the_probes(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


def test_container_serves_pages_and_static_files_from_the_package(api: httpx.Client) -> None:
    landing = api.get("/")
    assert landing.status_code == 200
    assert "text/html" in landing.headers["content-type"]
    assert api.get("/static/favicon.svg").status_code == 200
    assert api.get("/static/vendor/htmx/htmx.min.js").status_code == 200


def test_container_traces_the_origin_as_the_question_did(
    api: httpx.Client, origin: dict[str, Any]
) -> None:
    trace = api.get(f"/api/sessions/{origin['id']}/trace")
    assert trace.status_code == 200, trace.text
    forward = trace.json()["forward"]
    # every weight and bias is 1: z¹ = 1 + x₁ + x₂ for inputs (0.8, 0.4) and (0.3, 0.3)
    first, second = forward[0]["a"]
    assert first == pytest.approx([_sigmoid(2.2)] * 3, abs=1e-12)
    assert second == pytest.approx([_sigmoid(1.6)] * 3, abs=1e-12)
    assert forward[-1]["a"][0][0] == pytest.approx(0.98069073, abs=2e-7)  # the question's a³₀₀


def test_container_steps_and_keeps_the_step(api: httpx.Client, origin: dict[str, Any]) -> None:
    step = api.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 10})
    assert step.status_code == 200, step.text
    assert step.json()["step"] == 10
    assert api.get(f"/api/sessions/{origin['id']}").json()["step"] == 10
