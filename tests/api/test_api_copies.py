"""Diagnostics, export → import (bit for bit), the NumPy script export, and fork."""

from __future__ import annotations

from itertools import pairwise

import pytest

from app.settings import Settings

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

ORIGIN_SYMMETRY_MESSAGE = ("Hidden layer 1: neurons 0, 1, 2 are identical — they get identical "
                           "gradients and will never differ. Effective width 1 of 3.")
EXACT_FIELDS = ("spec", "parameters", "initial_parameters", "optimizer_state", "progress",
                "history", "edits", "status", "divergence", "title", "example")


def _diagnostics(client, sid):
    resp = client.get(f"/api/sessions/{sid}/diagnostics")
    assert resp.status_code == 200, resp.text
    return resp.json()


def _export(client, sid, **params):
    resp = client.get(f"/api/sessions/{sid}/export", params=params)
    assert resp.status_code == 200, resp.text
    return resp


@pytest.fixture
def trained_adam(client, create, small_spec):
    """Return a session trained 9 steps with Adam (non-trivial optimiser state) and history."""
    s = create({**small_spec, "optimizer": {"name": "adam", "learning_rate": 0.01},
                "batch_size": 1})
    client.post(f"/api/sessions/{s['id']}/step", json={"iterations": 9})
    return s["id"]


# ---------------------------------------------------------------- diagnostics
def test_origin_reports_symmetry_groups_in_both_hidden_layers(client, origin):
    layers = _diagnostics(client, origin["id"])["symmetry"]["layers"]
    assert [y["layer"] for y in layers] == [1, 2]
    assert [y["groups"] for y in layers] == [[[0, 1, 2]], [[0, 1, 2]]]
    assert [y["effective_width"] for y in layers] == [1, 1]


def test_origin_symmetry_message_is_the_sentence(client, origin):
    symmetry = _diagnostics(client, origin["id"])["symmetry"]
    assert symmetry["layers"][0]["message"] == ORIGIN_SYMMETRY_MESSAGE
    assert symmetry["layers"][1]["message"] == ORIGIN_SYMMETRY_MESSAGE.replace(
        "Hidden layer 1", "Hidden layer 2")
    assert symmetry["symmetric"] is True


def test_random_init_fork_has_no_symmetry_groups(client, origin):
    fork = client.post(f"/api/sessions/{origin['id']}/fork",
                       json={"init": {"scheme": "xavier_uniform"}, "reinitialize": True})
    assert fork.status_code == 201
    symmetry = _diagnostics(client, fork.json()["id"])["symmetry"]
    assert all(y["groups"] == [] for y in symmetry["layers"])
    assert [y["effective_width"] for y in symmetry["layers"]] == [3, 3]
    assert symmetry["symmetric"] is False


def test_origin_gradient_check_agrees_with_finite_differences(client, origin):
    check = _diagnostics(client, origin["id"])["gradient_check"]
    assert check["checked"] > 0
    assert check["max_relative_error"] < 1e-6


def test_random_init_gradient_check_agrees_with_finite_differences(client, create,
                                                                    small_spec):
    s = create(small_spec)
    assert _diagnostics(client, s["id"])["gradient_check"]["max_relative_error"] < 1e-6


def test_diagnostics_do_not_change_the_session(client, origin):
    _diagnostics(client, origin["id"])
    assert client.get(f"/api/sessions/{origin['id']}").json() == origin


# ---------------------------------------------------------------- export / import
def test_export_is_a_json_attachment(client, origin):
    resp = _export(client, origin["id"])
    assert resp.headers["content-type"].startswith("application/json")
    assert "attachment" in resp.headers["content-disposition"]


def test_export_import_round_trip_is_bit_for_bit(client, trained_adam):
    doc = _export(client, trained_adam).json()
    resp = client.post("/api/sessions/import", json=doc)
    assert resp.status_code == 201, resp.text
    again = _export(client, resp.json()["id"]).json()
    for field in EXACT_FIELDS:
        assert again[field] == doc[field], field


def test_imported_session_has_the_same_parameters_and_step(client, trained_adam):
    original = client.get(f"/api/sessions/{trained_adam}").json()
    imported = client.post("/api/sessions/import",
                           json=_export(client, trained_adam).json()).json()
    assert imported["id"] != original["id"]
    assert imported["parameters"] == original["parameters"]
    assert (imported["step"], imported["epoch"]) == (original["step"], original["epoch"])
    assert imported["loss"] == original["loss"]


def test_imported_session_trains_exactly_like_the_original(client, trained_adam):
    imported = client.post("/api/sessions/import",
                           json=_export(client, trained_adam).json()).json()
    for sid in (trained_adam, imported["id"]):
        client.post(f"/api/sessions/{sid}/step", json={"iterations": 5})
    a = client.get(f"/api/sessions/{trained_adam}").json()
    b = client.get(f"/api/sessions/{imported['id']}").json()
    assert a["parameters"] == b["parameters"]


def test_export_optimizer_state_is_not_empty_for_adam(client, trained_adam):
    state = _export(client, trained_adam).json()["optimizer_state"]
    assert state["t"] == 9
    assert state["slots"]


def test_export_python_is_a_numpy_script(client, origin):
    resp = _export(client, origin["id"], format="python")
    assert resp.headers["content-type"].startswith("text/plain")
    assert "import numpy" in resp.text


def test_export_unknown_format_is_refused(client, origin, assert_error):
    resp = client.get(f"/api/sessions/{origin['id']}/export", params={"format": "xml"})
    assert_error(resp, 422, "format")


@pytest.mark.parametrize("garbage", [
    {},
    {"format": "something else"},
    {"format": "backprop-playground/session", "version": 1},
    {"format": "backprop-playground/session", "version": 99},
    [1, 2, 3],
    "garbage",
])
def test_import_of_garbage_is_422(client, assert_error, garbage):
    resp = client.post("/api/sessions/import", json=garbage)
    assert resp.status_code == 422
    assert_error(resp, 422, resp.json()["error"]["field"])


def test_import_of_invalid_json_is_422(client, assert_error):
    resp = client.post("/api/sessions/import", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert_error(resp, 422, None, code="invalid_json")


@pytest.mark.parametrize(("key", "value"), [
    ("spec", 5),
    ("spec", "text"),
    ("parameters", "abc"),
    ("parameters", [1, 2, 3]),
    ("optimizer_state", {"t": 1, "slots": 5}),
    ("optimizer_state", {"t": "x", "slots": {}}),
    ("progress", {"step": "x"}),
    ("progress", 7),
    ("history", {"step": [1], "loss": ["x"]}),
    ("history", [1]),
    ("divergence", {"step": 1}),
    ("edits", 5),
])
def test_import_of_a_damaged_export_is_422(client, origin, assert_error, key, value):
    doc = {**_export(client, origin["id"]).json(), key: value}
    resp = client.post("/api/sessions/import", json=doc)
    assert resp.status_code == 422, resp.text
    assert_error(resp, 422, resp.json()["error"]["field"])


def test_largest_session_export_imports_back_under_default_limits(make_client):
    defaults = {name: Settings.model_fields[name].default for name in (
        "max_transitions", "max_neurons", "max_parameters", "max_observations",
        "max_data_cells", "max_body_bytes", "max_iterations", "history_points")}
    client = make_client(**defaults)
    layers = [1024, 243, 1]  # 249,076 parameters: the largest under max_parameters
    assert sum(i * o + o for i, o in pairwise(layers)) <= defaults["max_parameters"]
    s = client.post("/api/sessions", json={
        "layers": layers, "inputs": [[0.5] * 1024], "targets": [[0.5]],
        "optimizer": {"name": "adam", "learning_rate": 0.001}}).json()
    client.post(f"/api/sessions/{s['id']}/step", json={"iterations": 1})
    exported = _export(client, s["id"])
    resp = client.post("/api/sessions/import", content=exported.content,
                       headers={"content-type": "application/json"})
    assert resp.status_code == 201, (len(exported.content), resp.text)


def test_import_over_the_limits_is_refused(client, origin, assert_error):
    doc = _export(client, origin["id"]).json()
    doc["spec"] = {**doc["spec"], "layers": [2, 65, 3, 2]}
    assert_error(client.post("/api/sessions/import", json=doc), 422, "layers[1]",
                 code="limit_exceeded", limit=64)


# ---------------------------------------------------------------- fork
def test_fork_makes_a_new_session_with_the_same_parameters(client, origin):
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 4})
    source = client.get(f"/api/sessions/{origin['id']}").json()
    resp = client.post(f"/api/sessions/{origin['id']}/fork", headers=JSON_TYPE)
    assert resp.status_code == 201
    fork = resp.json()
    assert fork["id"] != source["id"]
    assert fork["parameters"] == source["parameters"]
    assert fork["step"] == source["step"]
    assert resp.headers["etag"] == f'"{fork["version"]}"'


def test_fork_with_changes_applies_them(client, origin):
    fork = client.post(f"/api/sessions/{origin['id']}/fork",
                       json={"optimizer": {"learning_rate": 0.05}, "title": "copy"}).json()
    assert fork["spec"]["optimizer"]["learning_rate"] == 0.05
    assert fork["title"] == "copy"
    assert fork["parameters"] == origin["parameters"]


def test_fork_leaves_the_original_unchanged(client, origin):
    fork = client.post(f"/api/sessions/{origin['id']}/fork",
                       json={"layers": [2, 4, 3, 2], "reinitialize": True}).json()
    client.post(f"/api/sessions/{fork['id']}/step", json={"iterations": 3})
    assert client.get(f"/api/sessions/{origin['id']}").json() == origin


def test_fork_with_reinitialize_starts_at_step_zero(client, origin):
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 4})
    fork = client.post(f"/api/sessions/{origin['id']}/fork",
                       json={"init": {"scheme": "he_normal", "seed": 2},
                             "reinitialize": True}).json()
    assert fork["step"] == 0
    assert fork["parameters"][0]["weights"] != origin["parameters"][0]["weights"]


def test_fork_of_an_unknown_session_is_404(client, assert_error):
    assert_error(client.post("/api/sessions/" + "D" * 22 + "/fork", headers=JSON_TYPE), 404, None)


def test_fork_with_an_invalid_change_is_422_and_creates_nothing(client, origin,
                                                                  assert_error):
    store = client.app.state.service.store
    before = store.count()
    resp = client.post(f"/api/sessions/{origin['id']}/fork", json={"layers": [2, 99, 2]})
    assert_error(resp, 422, "layers[1]", code="limit_exceeded", limit=64)
    assert store.count() == before
