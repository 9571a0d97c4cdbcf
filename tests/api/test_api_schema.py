"""The API against its own OpenAPI: schemathesis in-process, and a stateful sequence test.

Checks on every response: no 5xx (`not_a_server_error`), the body conforms to the
documented response schema (`response_schema_conformance`), JSON bodies parse with a
strict parser (no NaN/Infinity tokens), and every error has the one error shape.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)
from pydantic import BaseModel
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.api.reports import HistoryOut
from app.api.schemas import (
    CheckOut,
    PhaseOut,
    SessionPublic,
    StepResult,
    TraceOut,
)
from app.main import create_app
from app.settings import Settings

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

LIMITS: dict[str, Any] = {
    "store": "memory", "max_neurons": 64, "max_parameters": 5000, "max_observations": 200,
    "max_data_cells": 2000, "max_iterations": 2000, "max_body_bytes": 256 * 1024,
    "max_sessions": 100_000, "history_points": 50, "step_time_budget": 0.25, "create_rate": 0,
}
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(max_examples=50, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
STATEFUL = settings(max_examples=40, stateful_step_count=15, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

app = create_app(Settings(**LIMITS))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
direct = TestClient(app, raise_server_exceptions=False)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON token {token!r}")


def _strict(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _check_body(status: int, content_type: str, text: str, where: str) -> Any:
    """Parse a JSON body strictly; for errors, check the one error shape."""
    if not content_type.startswith("application/json"):
        assert status < 400, where
        return None
    body = _strict(text)
    if status >= 400:
        assert set(body) == {"error"}, where
        assert set(body["error"]) == {"code", "message", "field", "limit"}, where
        assert isinstance(body["error"]["code"], str), where
        assert isinstance(body["error"]["message"], str), where
    return body


def _call_and_check(case: Any) -> None:
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    where = f"{case.method} {case.formatted_path} → {response.status_code}: {response.text}"
    content_type = (response.headers.get("content-type") or [""])[0]
    _check_body(response.status_code, content_type, response.text, where)


@schema.parametrize()
@FUZZ
def test_every_operation_without_server_errors_or_schema_violations(case):
    _call_and_check(case)


@schema.include(path_regex=r"\{session_id\}").parametrize()
@FUZZ
def test_every_operation_on_a_real_session(case):
    original = str(case.path_parameters["session_id"])
    example = "origin" if len(original) % 2 else "xor"
    created = direct.post("/api/sessions", json={"example": example})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    case.path_parameters["session_id"] = sid
    try:
        _call_and_check(case)
    finally:
        direct.delete(f"/api/sessions/{sid}")


# ---------------------------------------------------------------- stateful sequences
small_floats = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


class SessionLifecycle(RuleBasedStateMachine):
    """Create → patch → step → trace → … → delete, checking every response on the way."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, dict[str, Any]] = {}  # id -> step, version, layers

    def call(self, method: str, url: str, model: type[BaseModel] | None = None,
             **kw: Any) -> tuple[int, Any]:
        resp = direct.request(method, url, **kw)
        where = f"{method} {url} {kw} → {resp.status_code}: {resp.text}"
        assert resp.status_code < 500, where
        body = _check_body(resp.status_code, resp.headers.get("content-type", ""), resp.text,
                           where)
        if model is not None and resp.status_code < 300:
            model.model_validate(body)
        return resp.status_code, body

    def _seen(self, body: dict[str, Any]) -> None:
        self.model[body["id"]] = {"step": body["step"], "version": body["version"],
                                  "layers": body["spec"]["layers"]}

    @initialize(target=sessions)
    def create_origin(self) -> str:
        status, body = self.call("POST", "/api/sessions", SessionPublic,
                                 json={"example": "origin"})
        assert status == 201
        self._seen(body)
        return body["id"]

    @rule(target=sessions, example=st.sampled_from(["origin", "xor"]),
          optimizer=st.sampled_from(["sgd", "momentum", "rmsprop", "adam"]),
          rate=st.floats(1e-3, 2.0), seed=st.integers(0, 2**31),
          scheme=st.sampled_from(["xavier_uniform", "he_normal", "constant", "orthogonal"]))
    def create(self, example: str, optimizer: str, rate: float, seed: int,
               scheme: str) -> str:
        status, body = self.call("POST", "/api/sessions", SessionPublic, json={
            "example": example, "optimizer": {"name": optimizer, "learning_rate": rate},
            "init": {"scheme": scheme, "seed": seed}})
        assert status == 201
        self._seen(body)
        return body["id"]

    @rule(target=sessions, hidden=st.lists(st.integers(1, 6), min_size=0, max_size=2),
          rows=st.integers(1, 5), data=st.data())
    def create_from_spec(self, hidden: list[int], rows: int, data: st.DataObject) -> str:
        layers = [2, *hidden, 2]
        body = {"layers": layers,
                "hidden_activation": data.draw(st.sampled_from(["sigmoid", "tanh", "relu"])),
                "inputs": data.draw(st.lists(st.lists(small_floats, min_size=2, max_size=2),
                                             min_size=rows, max_size=rows)),
                "targets": data.draw(st.lists(st.lists(st.floats(0, 1), min_size=2,
                                                       max_size=2),
                                              min_size=rows, max_size=rows))}
        status, out = self.call("POST", "/api/sessions", SessionPublic, json=body)
        assert status == 201
        self._seen(out)
        return out["id"]

    @rule(sid=sessions, rate=st.floats(1e-4, 5.0), use_if_match=st.booleans())
    def patch_learning_rate(self, sid: str, rate: float, use_if_match: bool) -> None:
        headers = {"If-Match": f'"{self.model[sid]["version"]}"'} if use_if_match else {}
        status, body = self.call("PATCH", f"/api/sessions/{sid}", SessionPublic,
                                 json={"optimizer": {"learning_rate": rate}}, headers=headers)
        assert status == 200
        assert body["step"] == self.model[sid]["step"]
        assert body["version"] == self.model[sid]["version"] + 1
        self._seen(body)

    @rule(sid=sessions, data=st.data())
    def patch_cell(self, sid: str, data: st.DataObject) -> None:
        layers = self.model[sid]["layers"]
        t = data.draw(st.integers(0, len(layers) - 2))
        cell = {"transition": t, "kind": "weights", "value": data.draw(small_floats),
                "row": data.draw(st.integers(0, layers[t] - 1)),
                "column": data.draw(st.integers(0, layers[t + 1] - 1))}
        status, body = self.call("PATCH", f"/api/sessions/{sid}", SessionPublic,
                                 json={"cells": [cell]})
        assert status == 200
        assert body["parameters"][t]["weights"][cell["row"]][cell["column"]] == cell["value"]
        self._seen(body)

    @rule(sid=sessions, size=st.integers(1, 8))
    def patch_first_hidden_layer(self, sid: str, size: int) -> None:
        layers = list(self.model[sid]["layers"])
        if len(layers) < 3:
            return
        layers[1] = size
        status, body = self.call("PATCH", f"/api/sessions/{sid}", SessionPublic,
                                 json={"layers": layers})
        assert status == 200
        assert body["spec"]["layers"] == layers
        self._seen(body)

    @rule(sid=sessions, iterations=st.integers(1, 60))
    def step(self, sid: str, iterations: int) -> None:
        status, body = self.call("POST", f"/api/sessions/{sid}/step", StepResult,
                                 json={"iterations": iterations})
        assert status == 200
        assert body["step"] == self.model[sid]["step"] + body["iterations_run"]
        assert body["iterations_run"] <= iterations
        self.model[sid]["step"] = body["step"]
        self.model[sid]["version"] = body["version"]

    @rule(sid=sessions, augmented=st.booleans(), first_only=st.booleans())
    def trace(self, sid: str, augmented: bool, first_only: bool) -> None:
        params: dict[str, Any] = {"augmented": str(augmented).lower()}
        if first_only:
            params["observations"] = "0"
        status, body = self.call("GET", f"/api/sessions/{sid}/trace", TraceOut, params=params)
        assert status == 200
        assert [f["layer"] for f in body["forward"]] == list(
            range(1, len(self.model[sid]["layers"])))

    @rule(sid=sessions)
    def advance_phase(self, sid: str) -> None:
        status, body = self.call("POST", f"/api/sessions/{sid}/phase", PhaseOut, headers=JSON_TYPE)
        assert status == 200
        self.model[sid]["step"] = body["step"]
        self.model[sid]["version"] += 1

    @rule(sid=sessions)
    def read_everything(self, sid: str) -> None:
        for path, model in (("", SessionPublic), ("/history", HistoryOut),
                            ("/phase", PhaseOut), ("/diagnostics", None), ("/export", None)):
            status, body = self.call("GET", f"/api/sessions/{sid}{path}", model)
            assert status == 200
        assert body["progress"]["step"] == self.model[sid]["step"]

    @rule(sid=sessions, quantity=st.sampled_from(["z", "a", "delta", "grad_weights"]))
    def check_the_trace_itself(self, sid: str, quantity: str) -> None:
        _, tr = self.call("GET", f"/api/sessions/{sid}/trace", TraceOut)
        entry = (tr["forward"][0] if quantity in ("z", "a")
                 else next(b for b in tr["backward"] if b["layer"] == 1))
        if any(v is None for row in entry[quantity] for v in row):
            return  # a diverged session has no finite matrix to check
        status, body = self.call("POST", f"/api/sessions/{sid}/check", CheckOut, json={
            "quantity": quantity, "layer": 1, "values": entry[quantity]})
        assert status == 200
        assert body["all_correct"] is True

    @rule(target=sessions, sid=sessions)
    def fork(self, sid: str) -> str:
        status, body = self.call("POST", f"/api/sessions/{sid}/fork", SessionPublic,
                                 headers=JSON_TYPE)
        assert status == 201
        self._seen(body)
        return body["id"]

    @rule(target=sessions, sid=sessions)
    def export_import(self, sid: str) -> str:
        _, doc = self.call("GET", f"/api/sessions/{sid}/export")
        status, body = self.call("POST", "/api/sessions/import", SessionPublic, json=doc)
        assert status == 201
        assert body["step"] == self.model[sid]["step"]
        self._seen(body)
        return body["id"]

    @rule(sid=sessions, action=st.sampled_from(["undo", "redo", "reset", "reinitialize"]))
    def history_action(self, sid: str, action: str) -> None:
        status, body = self.call("POST", f"/api/sessions/{sid}/{action}", SessionPublic,
                                 headers=JSON_TYPE)
        assert status in (200, 409)
        if status == 200:
            self._seen(body)
            if action in ("reset", "reinitialize"):
                assert body["step"] == 0

    @rule(sid=consumes(sessions))
    def delete(self, sid: str) -> None:
        status, _ = self.call("DELETE", f"/api/sessions/{sid}")
        assert status == 204
        status, _ = self.call("GET", f"/api/sessions/{sid}")
        assert status == 404
        del self.model[sid]

    @precondition(lambda self: bool(self.model))
    @invariant()
    def sessions_read_back_as_modelled(self) -> None:
        for sid, known in self.model.items():
            status, body = self.call("GET", f"/api/sessions/{sid}", SessionPublic)
            assert status == 200
            assert (body["step"], body["version"]) == (known["step"], known["version"])

    def teardown(self) -> None:
        for sid in self.model:
            direct.delete(f"/api/sessions/{sid}")


SessionLifecycle.TestCase.settings = STATEFUL
test_session_lifecycle_sequences = SessionLifecycle.TestCase
