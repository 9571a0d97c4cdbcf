"""Every operation of /openapi.json against the app, with schemathesis: no server error,
and every answer documented — its status code, its media type and its body's schema.

schemathesis generates valid and invalid requests from the schema (positive and negative
modes) for each operation, a bounded number per operation. A path's session id is
mostly a real session's, made for the case (the origin, XOR, or a small 2-D dataset), so
the success paths run; the rest are random ids, whose 404 must be documented too. The
success paths random data almost never reaches (undo and redo, a CSV, a right hand
calculation, an import, the Python export) are sent as written and checked the same way.
A failure prints the request that reproduces it (a curl line).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings

LIMITS: dict[str, Any] = {
    "store": "memory", "max_neurons": 64, "max_parameters": 5000, "max_observations": 200,
    "max_data_cells": 2000, "max_iterations": 2000, "max_body_bytes": 256 * 1024,
    "max_sessions": 100_000, "history_points": 50, "step_time_budget": 0.25, "create_rate": 0,
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
JSON = {"Content-Type": "application/json"}  # the API takes JSON only, even an empty body
SEEDS: tuple[dict[str, Any], ...] = (  # the sessions a case's path may name
    {"example": "origin"},
    {"example": "xor"},
    {"dataset": {"name": "spiral", "points": 40, "classes": None}},
)
# 70-100 s on two shared cores, most of it schemathesis's coverage phase (each boundary
# of the schema once), then 20 random examples per operation; the deadline is per
# example and generous: a slow machine must not fail it, a request that hangs must
CONTRACT = settings(max_examples=20, deadline=timedelta(seconds=20), database=None,
                    derandomize=True, suppress_health_check=list(HealthCheck))

app = create_app(Settings(**LIMITS))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
direct = TestClient(app, raise_server_exceptions=False)


def _real_session(case: Any) -> str | None:
    """Put a fresh session's id (or, on the read-only routes, its view token) in the path
    of two valid cases in three; return the id (an invalid case is refused before its
    session is looked up: any id will do)."""
    name = next((k for k in ("session_id", "token") if k in (case.path_parameters or {})),
                None)
    original = case.path_parameters[name] if name else None
    if (name is None or len(str(original)) % 3 == 0
            or case.meta.generation.mode is not GenerationMode.POSITIVE):
        return None
    seed = SEEDS[len(str(original)) % len(SEEDS)]
    created = direct.post("/api/sessions", json=seed)
    assert created.status_code == 201, created.text
    sid: str = created.json()["id"]
    case.path_parameters[name] = sid if name == "session_id" else created.json()["view_token"]
    return sid


@schema.parametrize()
@CONTRACT
def test_every_operation_answers_as_documented(case: Any) -> None:
    sid = _real_session(case)
    try:
        case.call_and_validate(headers=JSON, checks=CHECKS)
    finally:
        if sid is not None:
            direct.delete(f"/api/sessions/{sid}")


def _stepped() -> str:
    """Return a new origin session after an edit, a step and an undo (so undo and redo
    act)."""
    sid: str = direct.post("/api/sessions", json={"example": "origin"}).json()["id"]
    assert direct.patch(f"/api/sessions/{sid}", json={"title": "edited"}).status_code == 200
    for path, body in (("step", {"iterations": 2}), ("undo", {})):
        assert direct.post(f"/api/sessions/{sid}/{path}", json=body).status_code == 200
    return sid


def _hand_calculation(sid: str) -> dict[str, Any]:
    """Return a check request holding the trace's own a¹ (so every cell is right)."""
    trace = direct.get(f"/api/sessions/{sid}/trace").json()
    return {"quantity": "a", "layer": 1, "values": trace["forward"][0]["a"]}


SUCCESSES: dict[str, tuple[str, str, Any]] = {  # name: (method, path, body or query)
    "undo": ("POST", "/api/sessions/{session_id}/undo", None),
    "redo": ("POST", "/api/sessions/{session_id}/redo", None),
    "csv": ("POST", "/api/sessions/{session_id}/csv",
            {"text": "a,b,y\n1,2,0\n3,4,1\n", "inputs": ["a", "1"], "targets": ["y"]}),
    "check": ("POST", "/api/sessions/{session_id}/check", _hand_calculation),
    "python export": ("GET", "/api/sessions/{session_id}/export", {"format": "python"}),
    "import": ("POST", "/api/sessions/import", "export"),
}


@pytest.mark.parametrize("name", list(SUCCESSES))
def test_the_rarely_reached_success_paths_answer_as_documented(name: str) -> None:
    method, path, given = SUCCESSES[name]
    sid = _stepped()
    operation = schema[path][method]
    kwargs: dict[str, Any] = {"path_parameters": {"session_id": sid}} if "{" in path else {}
    if method == "GET":
        kwargs["query"] = given
    elif given is not None:
        body = (direct.get(f"/api/sessions/{sid}/export").json() if given == "export"
                else given(sid) if callable(given) else given)
        kwargs.update(body=body, media_type="application/json")
    response = operation.Case(headers=JSON, **kwargs).call_and_validate(checks=CHECKS)
    assert response.status_code in (200, 201), response.text
