"""GET .../trace, the phase stepper, the loss history and "check my calculation"."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

# The origin's table of ∂ΣC/∂w² in its augmented layout (bias row on top).
ORIGIN_GRAD_AUGMENTED = [[0.0288126, 0.0596958]] + [[0.028122, 0.0580562]] * 3
ORIGIN_A1_ROW0 = 0.9002495
BACKWARD_FIELDS = {"layer", "dloss_da", "da_dz", "delta", "grad_weights", "grad_biases"}


def _trace(client, sid, **params):
    resp = client.get(f"/api/sessions/{sid}/trace", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _check(client, sid, body):
    return client.post(f"/api/sessions/{sid}/check", json=body)


# ---------------------------------------------------------------- trace
def test_trace_forward_has_one_entry_per_layer_in_order(client, origin):
    forward = _trace(client, origin["id"])["forward"]
    assert [f["layer"] for f in forward] == [1, 2, 3]
    assert all({"z", "a"} <= set(f) for f in forward)


def test_trace_backward_runs_from_the_output_down(client, origin):
    backward = _trace(client, origin["id"])["backward"]
    assert [b["layer"] for b in backward] == [3, 2, 1]
    assert all(set(b) >= BACKWARD_FIELDS for b in backward)


def test_trace_has_loss_and_one_update_per_transition(client, origin):
    tr = _trace(client, origin["id"])
    assert tr["loss"] == pytest.approx(origin["loss"], rel=1e-12)
    assert [u["transition"] for u in tr["update"]] == [0, 1, 2]


def test_trace_shapes_follow_the_conventions(client, origin):
    tr = _trace(client, origin["id"])
    assert [np.shape(f["z"]) for f in tr["forward"]] == [(2, 3), (2, 3), (2, 2)]
    by_layer = {b["layer"]: b for b in tr["backward"]}
    assert np.shape(by_layer[1]["grad_weights"]) == (2, 3)
    assert np.shape(by_layer[3]["grad_weights"]) == (3, 2)
    assert len(by_layer[3]["grad_biases"]) == 2


def test_origin_a1_first_row_matches_to_seven_decimals(client, origin):
    a1 = _trace(client, origin["id"])["forward"][0]["a"]
    assert [round(v, 7) for v in a1[0]] == [ORIGIN_A1_ROW0] * 3


def test_origin_augmented_gradient_matches_the_origins_table(client, origin):
    last = _trace(client, origin["id"], augmented="true")["backward"][0]
    assert last["layer"] == 3
    assert np.allclose(last["grad_augmented"], ORIGIN_GRAD_AUGMENTED, rtol=0, atol=2e-7)


def test_augmented_gradient_is_bias_gradient_on_top_of_weights(client, origin):
    last = _trace(client, origin["id"], augmented="true")["backward"][0]
    assert last["grad_augmented"] == [last["grad_biases"], *last["grad_weights"]]


def test_trace_update_is_the_step_the_session_then_takes(client, origin):
    update = _trace(client, origin["id"])["update"]
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 1})
    params = client.get(f"/api/sessions/{origin['id']}").json()["parameters"]
    assert [{"weights": u["weights"], "biases": u["biases"]} for u in update] == params


def test_trace_of_one_observation_gives_one_row_matrices(client, origin):
    tr = _trace(client, origin["id"], observations="0")
    assert tr["observations"] == [0]
    assert all(len(f["z"]) == 1 and len(f["a"]) == 1 for f in tr["forward"])
    assert all(len(b["delta"]) == 1 for b in tr["backward"])
    assert tr["forward"][0]["a"][0][0] == pytest.approx(ORIGIN_A1_ROW0, abs=5e-8)


@pytest.mark.parametrize("bad", ["2", "-1", "x", "0,", "0;1"])
def test_bad_observations_are_422_naming_the_parameter(client, origin, assert_error, bad):
    resp = client.get(f"/api/sessions/{origin['id']}/trace", params={"observations": bad})
    assert_error(resp, 422, "observations")


def test_reading_a_trace_twice_gives_identical_numbers(client, origin):
    assert _trace(client, origin["id"]) == _trace(client, origin["id"])


def test_reading_a_trace_keeps_the_sessions_version(client, origin):
    _trace(client, origin["id"])
    _trace(client, origin["id"], augmented="true", observations="1")
    after = client.get(f"/api/sessions/{origin['id']}").json()
    assert after["version"] == origin["version"]
    assert after == origin


def test_trace_of_an_unknown_session_is_404(client, assert_error):
    assert_error(client.get("/api/sessions/" + "C" * 22 + "/trace"), 404, None)


# ---------------------------------------------------------------- phase
def _advance(client, sid):
    resp = client.post(f"/api/sessions/{sid}/phase", headers=JSON_TYPE)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_phase_starts_at_position_zero(client, origin):
    body = client.get(f"/api/sessions/{origin['id']}/phase").json()
    assert body["position"] == 0
    assert body["just_computed"] is None
    assert body["complete"] is False


def test_phases_are_forward_loss_backward_update(client, origin):
    labels = [_advance(client, origin["id"])["just_computed"] for _ in range(8)]
    assert labels == ["forward layer 1", "forward layer 2", "forward layer 3", "loss",
                      "backward layer 3", "backward layer 2", "backward layer 1", "update"]


def test_phase_position_advances_by_one(client, origin):
    assert [_advance(client, origin["id"])["position"] for _ in range(3)] == [1, 2, 3]
    assert client.get(f"/api/sessions/{origin['id']}/phase").json()["position"] == 3


def test_phase_shows_only_what_is_computed(client, origin):
    for _ in range(2):
        body = _advance(client, origin["id"])
    assert [f["layer"] for f in body["computed"]["forward"]] == [1, 2]
    assert body["computed"]["backward"] == []
    assert "loss" not in body["computed"]


def test_phase_numbers_equal_the_trace(client, origin):
    tr = _trace(client, origin["id"])
    for _ in range(8):
        body = _advance(client, origin["id"])
    assert body["complete"] is True
    assert body["computed"]["forward"][0]["a"] == tr["forward"][0]["a"]
    assert body["computed"]["loss"] == tr["loss"]


def test_all_phases_then_one_more_equals_one_step(client, origin):
    fork = client.post(f"/api/sessions/{origin['id']}/fork", headers=JSON_TYPE).json()
    for _ in range(9):
        body = _advance(client, origin["id"])
    assert body["step"] == 1
    client.post(f"/api/sessions/{fork['id']}/step", json={"iterations": 1})
    phased = client.get(f"/api/sessions/{origin['id']}").json()
    stepped = client.get(f"/api/sessions/{fork['id']}").json()
    assert phased["step"] == stepped["step"] == 1
    assert phased["parameters"] == stepped["parameters"]


def test_phase_restart_goes_back_to_zero(client, origin):
    _advance(client, origin["id"])
    resp = client.post(f"/api/sessions/{origin['id']}/phase", json={"action": "restart"})
    assert resp.json()["position"] == 0
    assert resp.json()["step"] == 0


def test_phase_unknown_action_is_refused(client, origin, assert_error):
    resp = client.post(f"/api/sessions/{origin['id']}/phase", json={"action": "jump"})
    assert_error(resp, 422, "action")


# ---------------------------------------------------------------- history
def test_history_has_one_point_per_step(client, origin):
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 12})
    h = client.get(f"/api/sessions/{origin['id']}/history").json()
    assert h["step"] == list(range(1, 13))
    assert len(h["loss"]) == 12
    assert h["total_points"] == 12


def test_history_last_loss_is_the_sessions_loss(client, origin):
    client.post(f"/api/sessions/{origin['id']}/step", json={"iterations": 5})
    h = client.get(f"/api/sessions/{origin['id']}/history").json()
    assert h["loss"][-1] == client.get(f"/api/sessions/{origin['id']}").json()["loss"]


def test_history_is_empty_before_training(client, origin):
    h = client.get(f"/api/sessions/{origin['id']}/history").json()
    assert (h["step"], h["loss"]) == ([], [])


@pytest.fixture
def bumpy(client, create):
    """Return a session whose loss goes down and up (momentum overshoots), 120 steps in."""
    s = create({"example": "origin", "optimizer": {"name": "momentum", "learning_rate": 2.0,
                                                    "momentum": 0.95}})
    client.post(f"/api/sessions/{s['id']}/step", json={"iterations": 120})
    return s["id"]


def test_history_decimation_keeps_first_last_min_and_max(make_client):
    full_client = make_client(history_points=500)
    small_client = make_client(history_points=12)
    body = {"example": "origin", "optimizer": {"name": "momentum", "learning_rate": 2.0,
                                               "momentum": 0.95}}
    for c in (full_client, small_client):
        sid = c.post("/api/sessions", json=body).json()["id"]
        c.post(f"/api/sessions/{sid}/step", json={"iterations": 120})
        if c is full_client:
            full = c.get(f"/api/sessions/{sid}/history").json()
        else:
            small = c.get(f"/api/sessions/{sid}/history").json()
    assert len(full["step"]) == 120
    assert len(small["step"]) <= 12
    assert small["total_points"] == 120
    kept = dict(zip(small["step"], small["loss"], strict=True))
    losses = full["loss"]
    for i in (0, -1, int(np.argmin(losses)), int(np.argmax(losses))):
        assert kept[full["step"][i]] == losses[i]


def test_history_max_points_query_decimates(client, bumpy):
    h = client.get(f"/api/sessions/{bumpy}/history", params={"max_points": 10}).json()
    full = client.get(f"/api/sessions/{bumpy}/history").json()
    assert len(h["step"]) <= 10
    assert h["step"][0] == 1
    assert h["step"][-1] == 120
    assert min(h["loss"]) == min(full["loss"])
    assert max(h["loss"]) == max(full["loss"])


def test_history_loss_is_not_monotonic_for_the_bumpy_run(client, bumpy):
    loss = client.get(f"/api/sessions/{bumpy}/history").json()["loss"]
    assert any(b > a for a, b in pairwise(loss))


def test_history_max_points_below_ten_is_refused(client, origin, assert_error):
    resp = client.get(f"/api/sessions/{origin['id']}/history", params={"max_points": 3})
    assert_error(resp, 422, "max_points", limit=10)


# ---------------------------------------------------------------- check
def test_check_the_right_matrix_is_all_correct(client, origin):
    a1 = _trace(client, origin["id"])["forward"][0]["a"]
    body = _check(client, origin["id"], {"quantity": "a", "layer": 1, "values": a1}).json()
    assert body["all_correct"] is True
    assert body["first_wrong"] is None
    assert body["correct"] == [[True] * 3] * 2


def test_check_the_origins_printed_a1_is_right_to_seven_decimals(client, origin):
    values = [[0.9002495] * 3, [0.8320184] * 3]
    body = _check(client, origin["id"], {"quantity": "a", "layer": 1, "values": values}).json()
    assert body["all_correct"] is True


def test_check_one_wrong_cell_names_it(client, origin):
    gw = _trace(client, origin["id"])["backward"][0]["grad_weights"]
    wrong = [row[:] for row in gw]
    wrong[2][1] += 0.01
    body = _check(client, origin["id"],
                  {"quantity": "grad_weights", "layer": 3, "values": wrong}).json()
    assert body["all_correct"] is False
    first = body["first_wrong"]
    assert (first["row"], first["column"]) == (2, 1)
    assert first["expected"] == gw[2][1]
    assert first["formula"]
    assert body["correct"][2][1] is False
    assert sum(not c for row in body["correct"] for c in row) == 1


def test_check_accepts_the_augmented_gradient(client, origin):
    body = _check(client, origin["id"], {"quantity": "grad_weights", "layer": 3,
                                         "values": ORIGIN_GRAD_AUGMENTED,
                                         "tolerance": 2e-7}).json()
    assert body["augmented"] is True
    assert body["all_correct"] is True


def test_check_z_given_for_a_names_the_slip(client, origin):
    z1 = _trace(client, origin["id"])["forward"][0]["z"]
    body = _check(client, origin["id"], {"quantity": "a", "layer": 1, "values": z1}).json()
    assert body["all_correct"] is False
    assert "before the activation" in body["first_wrong"]["likely_slip"]


def test_check_wrong_shape_names_both_shapes(client, origin, assert_error):
    resp = _check(client, origin["id"], {"quantity": "grad_weights", "layer": 3,
                                         "values": [[1.0, 2.0]]})
    err = assert_error(resp, 422, "values", code="shape_mismatch", limit=[3, 2])
    assert "(1, 2)" in err["message"]
    assert "(3, 2)" in err["message"]


@pytest.mark.parametrize("layer", [0, 4])
def test_check_layer_out_of_range_is_refused(client, origin, assert_error, layer):
    resp = _check(client, origin["id"], {"quantity": "a", "layer": layer, "values": [[1.0]]})
    assert_error(resp, 422, "layer")


def test_check_unknown_quantity_is_refused(client, origin, assert_error):
    resp = _check(client, origin["id"], {"quantity": "w", "layer": 1, "values": [[1.0]]})
    assert_error(resp, 422, "quantity")


def test_check_a_vector_for_biases(client, origin):
    gb = _trace(client, origin["id"])["backward"][0]["grad_biases"]
    body = _check(client, origin["id"],
                  {"quantity": "grad_biases", "layer": 3, "values": gb}).json()
    assert body["all_correct"] is True
