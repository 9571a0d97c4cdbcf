"""POST .../step: training, its limits and budgets, and divergence (never NaN on the wire)."""

from __future__ import annotations

import numpy as np
import pytest

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

# The origin's output after 1000 iterations of SGD with learning rate 0.5.
ORIGIN_AFTER_1000 = [[0.5992708, 0.1997655], [0.5993174, 0.2004307]]
STEP_FIELDS = {"step", "epoch", "iterations_run", "truncated", "loss", "status"}
DIVERGING = {"layers": [2, 1], "activations": ["linear"], "loss": "sse",
             "optimizer": {"name": "sgd", "learning_rate": 1e6},
             "inputs": [[1.0, 2.0], [3.0, 4.0]], "targets": [[1.0], [2.0]]}


def _step(client, sid, n):
    return client.post(f"/api/sessions/{sid}/step", json={"iterations": n})


@pytest.fixture
def diverged(client, create):
    """Return the session of a linear net trained with a huge learning rate, and its step."""
    s = create(DIVERGING)
    resp = _step(client, s["id"], 200)
    assert resp.status_code == 200, resp.text
    return s["id"], resp


def test_step_answers_the_design_fields(client, origin):
    resp = _step(client, origin["id"], 3)
    assert resp.status_code == 200
    body = resp.json()
    assert body.keys() >= STEP_FIELDS
    assert body["step"] == 3
    assert body["epoch"] == 3
    assert body["iterations_run"] == 3
    assert body["truncated"] is False
    assert body["status"] == "ok"
    assert body["loss"] < origin["loss"]


def test_step_without_a_body_takes_one_update(client, origin):
    resp = client.post(f"/api/sessions/{origin['id']}/step", headers=JSON_TYPE)
    assert resp.status_code == 200
    assert resp.json()["step"] == 1


def test_step_loss_is_the_sessions_loss_afterwards(client, origin):
    loss = _step(client, origin["id"], 10).json()["loss"]
    assert client.get(f"/api/sessions/{origin['id']}").json()["loss"] == loss


def test_step_sends_the_new_version_as_etag(client, origin):
    resp = _step(client, origin["id"], 1)
    assert resp.headers["etag"] == f'"{origin["version"] + 1}"'


def test_origin_after_1000_iterations_matches_the_origin(client, origin):
    _step(client, origin["id"], 1000)
    outputs = client.get(f"/api/sessions/{origin['id']}").json()["outputs"]
    assert np.allclose(outputs, ORIGIN_AFTER_1000, rtol=0, atol=5e-7)


def test_origin_hidden_neurons_stay_identical_after_training(client, origin):
    _step(client, origin["id"], 100)
    params = client.get(f"/api/sessions/{origin['id']}").json()["parameters"]
    for t in params[:2]:
        w = np.array(t["weights"])
        assert (w == w[:, :1]).all()
        assert len(set(t["biases"])) == 1


def test_steps_add_up(client, origin, create):
    other = create({"example": "origin"})
    _step(client, origin["id"], 7)
    _step(client, other["id"], 3)
    _step(client, other["id"], 4)
    a = client.get(f"/api/sessions/{origin['id']}").json()
    b = client.get(f"/api/sessions/{other['id']}").json()
    assert a["parameters"] == b["parameters"]
    assert a["step"] == b["step"] == 7


def test_iterations_over_max_names_iterations_and_limit(client, origin, assert_error):
    resp = _step(client, origin["id"], 20001)
    assert_error(resp, 422, "iterations", code="limit_exceeded", limit=20000)


@pytest.mark.parametrize("iterations", [0, -1])
def test_iterations_below_one_is_refused(client, origin, assert_error, iterations):
    assert_error(_step(client, origin["id"], iterations), 422, "iterations")


def test_iterations_refused_changes_nothing(client, origin):
    _step(client, origin["id"], 20001)
    assert client.get(f"/api/sessions/{origin['id']}").json() == origin


def test_compute_budget_refuses_with_the_allowed_iterations(make_client, assert_error):
    client = make_client(compute_budget=1000.0)
    s = client.post("/api/sessions", json={"example": "origin"}).json()
    allowed = int(1000.0 // (2 * 29))  # observations × parameters of 2-3-3-2
    err = assert_error(_step(client, s["id"], 100), 422, "iterations", code="limit_exceeded",
                       limit=allowed)
    assert "budget" in err["message"]


def test_compute_budget_allows_what_it_names(make_client):
    client = make_client(compute_budget=1000.0)
    s = client.post("/api/sessions", json={"example": "origin"}).json()
    limit = _step(client, s["id"], 100).json()["error"]["limit"]
    assert _step(client, s["id"], limit).status_code == 200


def test_time_budget_truncates_a_long_request(make_client):
    client = make_client(step_time_budget=0.05)
    body = {"layers": [4, 64, 64, 4], "inputs": [[0.1, 0.2, 0.3, 0.4]] * 200,
            "targets": [[0.5, 0.5, 0.5, 0.5]] * 200}
    s = client.post("/api/sessions", json=body).json()
    result = _step(client, s["id"], 20000).json()
    assert result["truncated"] is True
    assert 0 < result["iterations_run"] < 20000
    assert result["step"] == result["iterations_run"]
    assert client.get(f"/api/sessions/{s['id']}").json()["step"] == result["iterations_run"]


def test_divergence_answers_200_with_status_diverged(diverged):
    _, resp = diverged
    body = resp.json()
    assert body["status"] == "diverged"
    assert set(body["divergence"]) == {"step", "layer", "quantity"}


def test_divergence_names_the_step_and_where(diverged):
    _, resp = diverged
    body = resp.json()
    where = body["divergence"]
    assert isinstance(where["step"], int)
    assert where["step"] == body["step"] + 1  # the step that was not taken
    assert where["layer"] is None or 1 <= where["layer"] <= 1
    assert isinstance(where["quantity"], str)
    assert where["quantity"]


def test_divergence_stops_at_the_last_finite_parameters(client, diverged, strict_json):
    sid, _ = diverged
    session = strict_json(client.get(f"/api/sessions/{sid}"))
    cells = [v for t in session["parameters"] for row in t["weights"] for v in row]
    assert all(v is not None for v in cells)


@pytest.mark.parametrize("path", ["", "/trace", "/trace?augmented=true", "/history",
                                  "/diagnostics", "/export", "/phase"])
def test_after_divergence_reads_are_strict_json(client, diverged, strict_json, path):
    sid, _ = diverged
    strict_json(client.get(f"/api/sessions/{sid}{path}"))


def test_diverged_step_response_is_strict_json(diverged, strict_json):
    _, resp = diverged
    assert strict_json(resp)["loss"] is None


def test_diverged_session_reports_status_on_get(client, diverged):
    sid, resp = diverged
    body = client.get(f"/api/sessions/{sid}").json()
    assert body["status"] == "diverged"
    assert body["divergence"] == resp.json()["divergence"]


def test_further_steps_after_divergence_run_no_iterations(client, diverged, strict_json):
    sid, resp = diverged
    again = strict_json(_step(client, sid, 10))
    assert again["iterations_run"] == 0
    assert again["step"] == resp.json()["step"]
    assert again["status"] == "diverged"


def test_reset_clears_divergence(client, diverged):
    sid, _ = diverged
    body = client.post(f"/api/sessions/{sid}/reset", headers=JSON_TYPE).json()
    assert body["status"] == "ok"
    assert body["divergence"] is None


def _has_null(value) -> bool:
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    return value is None


def test_overflowing_forward_pass_is_reported_as_diverged(client, create):
    s = create({"layers": [2, 2], "inputs": [[1e308, 1e308]], "targets": [[1, 0]],
                "init": {"scheme": "constant", "value": 1e6}})
    _step(client, s["id"], 3)
    trace = client.get(f"/api/sessions/{s['id']}/trace").json()
    forward = [f[q] for f in trace["forward"] for q in ("z", "a")]
    status = client.get(f"/api/sessions/{s['id']}").json()["status"]
    assert not _has_null(forward) or status == "diverged", (status, forward)
