"""Loose input is refused, not guessed: every odd request below is a clear 422 (or an
honest 405), never a 500 and never silently acted on (issue 14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.api.sessions as sessions_api
from app.api.reports import DiagnosticsOut, ExportOut
from app.sessions.errors import ServiceError

Json = dict[str, Any]
JSON = {"content-type": "application/json"}
CIRCLE = {"name": "circle", "points": 8}
CSV = {"text": "a,b\n1,2\n3,4\n", "inputs": ["a"], "targets": ["b"]}


def _csv_request(client: TestClient, route: str, csv: Json) -> Any:
    """Send the CSV by the create route or by the upload route of a fresh session."""
    if route == "create":
        return client.post("/api/sessions", json={"csv": csv})
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    return client.post(f"/api/sessions/{sid}/csv", json=csv)


def _state(client: TestClient, sid: str) -> tuple[int, int]:
    body = client.get(f"/api/sessions/{sid}").json()
    return body["version"], body["step"]


def _column_field(route: str, name: str) -> str:
    """Return the field a refusal of chosen columns names: inside `csv` on a create."""
    return f"csv.{name}" if route == "create" else name


@pytest.mark.parametrize("route", ["create", "upload"])
@pytest.mark.parametrize("digit", ["\u00b9", "\u0661", "\uff11"])  # ¹, Arabic-Indic 1, fullwidth 1
def test_a_column_named_by_a_unicode_digit_is_refused(
        client: TestClient, assert_error: Callable[..., Json], route: str, digit: str) -> None:
    resp = _csv_request(client, route, {**CSV, "inputs": [digit]})
    err = assert_error(resp, 422, _column_field(route, "inputs"), code="invalid")
    assert digit in err["message"]


@pytest.mark.parametrize("route", ["create", "upload"])
@pytest.mark.parametrize(("inputs", "targets"), [(["a"], ["a"]), (["a"], ["0"]), (["0"], ["a"]),
                                                 (["a", "b"], ["b"])])
def test_a_column_cannot_be_both_an_input_and_a_target(
        client: TestClient, assert_error: Callable[..., Json], route: str, inputs: list[str],
        targets: list[str]) -> None:
    resp = _csv_request(client, route, {**CSV, "inputs": inputs, "targets": targets})
    err = assert_error(resp, 422, _column_field(route, "targets"), code="invalid")
    assert "both an input and a target" in err["message"]


@pytest.mark.parametrize("other", [{"dataset": {"name": "circle"}}, {"example": "origin"},
                                   {"inputs": [[1.0]], "targets": [[2.0]]}])
def test_a_csv_beside_another_source_of_data_is_refused_naming_both(
        client: TestClient, assert_error: Callable[..., Json], other: Json) -> None:
    resp = client.post("/api/sessions", json={"csv": CSV, **other})
    err = assert_error(resp, 422, "csv", code="invalid")
    assert all(name in err["message"] for name in ("csv", next(iter(other))))


def test_a_dataset_beside_explicit_data_is_refused_naming_both(
        client: TestClient, assert_error: Callable[..., Json]) -> None:
    resp = client.post("/api/sessions", json={"dataset": {"name": "circle"},
                                              "inputs": [[1.0, 2.0]], "targets": [[1.0]]})
    err = assert_error(resp, 422, "dataset", code="invalid")
    assert "dataset and inputs and targets" in err["message"]


@pytest.mark.parametrize("scheme", ["xavier_uniform", "xavier_normal", "he_uniform",
                                    "lecun_normal", "orthogonal"])
def test_a_negative_gain_is_refused_naming_the_field_and_its_limit(
        client: TestClient, origin: Json, assert_error: Callable[..., Json],
        scheme: str) -> None:
    sid = origin["id"]
    resp = client.post(f"/api/sessions/{sid}/reinitialize", json={"scheme": scheme, "gain": -1})
    err = assert_error(resp, 422, "gain", limit=0)
    assert "greater than or equal to 0" in err["message"]
    assert _state(client, sid) == (origin["version"], origin["step"])


def test_a_negative_gain_in_a_create_request_is_refused(
        client: TestClient, small_spec: Json, assert_error: Callable[..., Json]) -> None:
    body = {**small_spec, "init": {"scheme": "he_normal", "gain": -2}}
    assert_error(client.post("/api/sessions", json=body), 422, "init.gain", limit=0)


def test_a_negative_gain_in_an_imported_document_is_refused(
        client: TestClient, origin: Json, assert_error: Callable[..., Json]) -> None:
    doc = client.get(f"/api/sessions/{origin['id']}/export").json()
    doc["spec"]["init"].update(scheme="he_normal", gain=-1.0)
    assert_error(client.post("/api/sessions/import", json=doc), 422, "init.gain", limit=0)


@pytest.mark.parametrize("nesterov", ["yes", 1, None])
def test_an_imported_documents_nesterov_must_be_true_or_false(
        client: TestClient, origin: Json, assert_error: Callable[..., Json],
        nesterov: Any) -> None:
    doc = client.get(f"/api/sessions/{origin['id']}/export").json()
    doc["spec"]["optimizer"]["nesterov"] = nesterov
    assert_error(client.post("/api/sessions/import", json=doc), 422, "optimizer.nesterov")


def _stepped_then(client: TestClient, action: str) -> tuple[str, tuple[int, int]]:
    """Return a session on which `action` would change something, and its state."""
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    assert client.post(f"/api/sessions/{sid}/step", json={"iterations": 3}).status_code == 200
    if action == "redo":
        assert client.post(f"/api/sessions/{sid}/undo", headers=JSON).status_code == 200
    return sid, _state(client, sid)


@pytest.mark.parametrize("action", ["reset", "undo", "redo"])
@pytest.mark.parametrize("body", [b"{bad", b'{"iterations": 1', b"\xff\xfe", b"[" * 5000])
def test_malformed_json_to_a_bodiless_operation_is_invalid_json_and_changes_nothing(
        client: TestClient, assert_error: Callable[..., Json], action: str,
        body: bytes) -> None:
    sid, before = _stepped_then(client, action)
    resp = client.post(f"/api/sessions/{sid}/{action}", content=body, headers=JSON)
    assert_error(resp, 422, None, code="invalid_json")
    assert _state(client, sid) == before


@pytest.mark.parametrize("action", ["reset", "undo", "redo"])
@pytest.mark.parametrize(("body", "empty"), [(b'{"x": 1}', b""), (b"[]", b"{}"),
                                             (b"null", b" { } "), (b"0", b""),
                                             (b'"reset"', b"{}")])
def test_a_bodiless_operation_refuses_any_body_but_nothing_or_an_empty_object(
        client: TestClient, assert_error: Callable[..., Json], action: str, body: bytes,
        empty: bytes) -> None:
    sid, before = _stepped_then(client, action)
    resp = client.post(f"/api/sessions/{sid}/{action}", content=body, headers=JSON)
    err = assert_error(resp, 422, "body", code="invalid")
    assert "takes no body" in err["message"]
    assert _state(client, sid) == before
    resp = client.post(f"/api/sessions/{sid}/{action}", content=empty, headers=JSON)
    assert resp.status_code == 200, resp.text
    assert _state(client, sid) != before


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("iterations", ['"10"', "true", "10.0"])
def test_iterations_must_be_a_json_integer_on_the_fast_path_and_fastapis(
        make_client: Callable[..., TestClient], assert_error: Callable[..., Json], fast: bool,
        iterations: str) -> None:
    client = make_client(fast_paths=fast)
    sid = client.post("/api/sessions", json={"example": "origin"}).json()["id"]
    before = _state(client, sid)
    resp = client.post(f"/api/sessions/{sid}/step", headers=JSON,
                       content=f'{{"iterations": {iterations}}}'.encode())
    assert_error(resp, 422, "iterations", code="invalid")
    assert _state(client, sid) == before


@pytest.mark.parametrize(("field", "value"), [
    ("seed", "1"), ("seed", True), ("seed", 1.0), ("gain", "2"), ("gain", True)])
def test_init_numbers_are_not_coerced_from_strings_or_booleans(
        client: TestClient, origin: Json, assert_error: Callable[..., Json], field: str,
        value: Any) -> None:
    resp = client.post(f"/api/sessions/{origin['id']}/reinitialize", json={field: value})
    assert_error(resp, 422, field, code="invalid")


@pytest.mark.parametrize(("path", "allowed"), [
    ("/api/sessions/{id}", {"GET", "PATCH", "DELETE"}),
    ("/api/sessions/{id}/phase", {"GET", "POST"}),
])
def test_a_405_allows_every_method_the_path_has(
        client: TestClient, origin: Json, assert_error: Callable[..., Json], path: str,
        allowed: set[str]) -> None:
    resp = client.put(path.format(id=origin["id"]), json={})
    assert_error(resp, 405, None, code="method_not_allowed")
    assert set(resp.headers["allow"].split(", ")) == allowed


def test_if_match_of_too_many_digits_is_refused(
        client: TestClient, origin: Json, assert_error: Callable[..., Json]) -> None:
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"title": "x"},
                        headers={"if-match": "9" * 5000})  # int() refuses over 4300 digits
    assert_error(resp, 422, "If-Match", code="invalid")


@pytest.mark.parametrize("version", ["\u00b2", '"\u00b9"', "W/\"\u00b3\""])  # Latin-1 digits
def test_if_match_takes_only_ascii_digits(version: str) -> None:
    # a server decodes header bytes as Latin-1, where ² ¹ ³ are str.isdigit() (the test
    # client sends them as UTF-8: this calls the parser itself)
    with pytest.raises(ServiceError) as refused:
        sessions_api.parse_if_match(version)
    assert (refused.value.status, refused.value.field) == (422, "If-Match")


@pytest.mark.parametrize("rows", ["\u0661", "0,\u0661", " \u0660"])  # Arabic-Indic 1, 0
def test_trace_observations_are_ascii_row_numbers(
        client: TestClient, origin: Json, assert_error: Callable[..., Json], rows: str) -> None:
    resp = client.get(f"/api/sessions/{origin['id']}/trace", params={"observations": rows})
    assert_error(resp, 422, "observations", code="invalid")


@pytest.mark.parametrize("path", ["", "/{id}/step", "/{id}/fork", "/import"])
def test_a_body_not_in_a_json_encoding_is_invalid_json(
        client: TestClient, origin: Json, assert_error: Callable[..., Json], path: str) -> None:
    resp = client.post("/api/sessions" + path.format(id=origin["id"]), content=b'{"a": "\xff"}',
                       headers=JSON)
    assert_error(resp, 422, None, code="invalid_json")


def test_the_openapi_documents_the_python_export_as_text(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    content = paths["/api/sessions/{session_id}/export"]["get"]["responses"]["200"]["content"]
    assert content["text/plain"]["schema"] == {"type": "string"}
    assert content["application/json"]["schema"]["$ref"].endswith("/ExportOut")


def test_the_openapi_types_the_diagnostics_and_the_export(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths, components = schema["paths"], schema["components"]["schemas"]
    diagnostics = paths["/api/sessions/{session_id}/diagnostics"]["get"]["responses"]["200"]
    assert diagnostics["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DiagnosticsOut")
    assert {"gradient_check", "symmetry", "activity", "gradients"} <= set(
        components["DiagnosticsOut"]["properties"])
    assert {"spec", "parameters", "optimizer_state", "progress"} <= set(
        components["ExportOut"]["properties"])


@pytest.mark.parametrize("body", [{"example": "origin"},
                                  {"dataset": {"name": "spiral", "points": 40}}])
def test_the_diagnostics_and_the_export_are_what_their_models_say(
        client: TestClient, body: Json) -> None:
    sid = client.post("/api/sessions", json=body).json()["id"]
    client.post(f"/api/sessions/{sid}/step", json={"iterations": 2})
    DiagnosticsOut.model_validate(client.get(f"/api/sessions/{sid}/diagnostics").json())
    ExportOut.model_validate(client.get(f"/api/sessions/{sid}/export").json())


def test_an_edited_dataset_session_exports_and_imports_back(client: TestClient) -> None:
    """A generated problem whose data was edited by hand keeps its recipe's `edited` flag
    through export and import (the recipe's fields are checked, this one included)."""
    sid = client.post("/api/sessions", json={"dataset": CIRCLE}).json()["id"]
    cell = {"kind": "inputs", "row": 0, "column": 0, "value": 0.5}
    assert client.patch(f"/api/sessions/{sid}", json={"data_cells": [cell]}).status_code == 200
    doc = client.get(f"/api/sessions/{sid}/export").json()
    assert doc["problem"]["recipe"]["edited"] is True
    copy = client.post("/api/sessions/import", json=doc)
    assert copy.status_code == 201, copy.text
    again = client.get(f"/api/sessions/{copy.json()['id']}/export").json()
    assert again["problem"] == doc["problem"]


@pytest.mark.parametrize(("key", "value"), [("name", 1), ("points", "8"), ("noise", True),
                                            ("features", [1]), ("edited", 1), ("colour", "x")])
def test_a_mistyped_recipe_in_an_imported_document_is_refused(
        client: TestClient, assert_error: Callable[..., Json], key: str, value: Any) -> None:
    sid = client.post("/api/sessions", json={"dataset": CIRCLE}).json()["id"]
    doc = client.get(f"/api/sessions/{sid}/export").json()
    doc["problem"]["recipe"][key] = value
    err = assert_error(client.post("/api/sessions/import", json=doc), 422,
                       f"problem.recipe.{key}")
    assert err["code"] in ("invalid", "unknown_field")
