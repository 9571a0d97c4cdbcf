"""PATCH a session; re-initialise, reset, undo and redo."""

from __future__ import annotations

import numpy as np
import pytest

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty


def _patch(client, sid, body, **kw):
    resp = client.patch(f"/api/sessions/{sid}", json=body, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _step(client, sid, n):
    resp = client.post(f"/api/sessions/{sid}/step", json={"iterations": n})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_learning_rate_change_keeps_the_weights(client, create, small_spec):
    s = create(small_spec)
    after = _patch(client, s["id"], {"optimizer": {"learning_rate": 0.1}})
    assert after["spec"]["optimizer"]["learning_rate"] == 0.1
    assert after["parameters"] == s["parameters"]


def test_learning_rate_change_keeps_the_other_optimizer_fields(client, create, small_spec):
    s = create({**small_spec, "optimizer": {"name": "momentum", "learning_rate": 0.5,
                                            "momentum": 0.8}})
    after = _patch(client, s["id"], {"optimizer": {"learning_rate": 0.1}})
    assert after["spec"]["optimizer"]["name"] == "momentum"
    assert after["spec"]["optimizer"]["momentum"] == 0.8


def test_layer_size_change_reinitialises_only_changed_transitions(client, create, small_spec):
    s = create(small_spec)
    after = _patch(client, s["id"], {"layers": [2, 4, 3, 2]})
    before, now = s["parameters"], after["parameters"]
    assert np.shape(now[0]["weights"]) == (2, 4)
    assert np.shape(now[1]["weights"]) == (4, 3)
    assert now[2] == before[2]


def test_last_layer_size_change_keeps_the_first_transitions(client, create, small_spec):
    s = create(small_spec)
    after = _patch(client, s["id"], {"layers": [2, 3, 5, 2]})
    assert after["parameters"][0] == s["parameters"][0]
    assert np.shape(after["parameters"][1]["weights"]) == (3, 5)
    assert np.shape(after["parameters"][2]["weights"]) == (5, 2)


def test_a_resized_transition_keeps_its_weights_and_draws_only_the_new_ones(
        client, create, small_spec):
    """A neuron added to hidden layer 1 keeps every weight of the neurons that were there
    (hand edits too); only its own column of w⁰ and row of w¹ are drawn."""
    s = create(small_spec)
    cell = {"transition": 0, "kind": "weights", "row": 1, "column": 2, "value": 7.5}
    edited = _patch(client, s["id"], {"cells": [cell]})
    after = _patch(client, s["id"], {"layers": [2, 4, 3, 2]})
    w0 = np.array(after["parameters"][0]["weights"])
    w1 = np.array(after["parameters"][1]["weights"])
    old0, old1 = (np.array(edited["parameters"][t]["weights"]) for t in (0, 1))
    assert (w0[:, :3] == old0).all()
    assert w0[1, 2] == 7.5
    assert (w1[:3, :] == old1).all()
    assert after["parameters"][0]["biases"][:3] == edited["parameters"][0]["biases"]
    assert w0.shape == (2, 4)
    assert w1.shape == (4, 3)


def test_a_transition_around_an_added_layer_is_drawn_afresh(client, create, small_spec):
    s = create(small_spec)
    after = _patch(client, s["id"], {"layers": [2, 3, 3, 3, 2]})
    assert after["parameters"][:2] == s["parameters"][:2]
    assert np.shape(after["parameters"][2]["weights"]) == (3, 3)
    assert after["parameters"][2]["weights"][0][:2] != s["parameters"][2]["weights"][0]


def test_set_a_whole_weight_matrix(client, origin):
    w = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    after = _patch(client, origin["id"], {"parameters": [{"weights": w}, None, None]})
    assert after["parameters"][0]["weights"] == w
    assert after["parameters"][0]["biases"] == origin["parameters"][0]["biases"]
    assert after["parameters"][1:] == origin["parameters"][1:]


def test_set_a_whole_bias_vector(client, origin):
    after = _patch(client, origin["id"], {"parameters": [None, None, {"biases": [0.25, -0.5]}]})
    assert after["parameters"][2]["biases"] == [0.25, -0.5]
    assert after["parameters"][2]["weights"] == origin["parameters"][2]["weights"]


def test_set_one_weight_cell(client, origin):
    cell = {"transition": 1, "kind": "weights", "row": 2, "column": 0, "value": 0.125}
    after = _patch(client, origin["id"], {"cells": [cell]})
    expected = [row[:] for row in origin["parameters"][1]["weights"]]
    expected[2][0] = 0.125
    assert after["parameters"][1]["weights"] == expected
    assert after["parameters"][0] == origin["parameters"][0]


def test_set_one_bias_cell(client, origin):
    cell = {"transition": 0, "kind": "biases", "column": 2, "value": -3.5}
    after = _patch(client, origin["id"], {"cells": [cell]})
    assert after["parameters"][0]["biases"] == [1.0, 1.0, -3.5]


def test_setting_a_cell_updates_the_loss(client, origin):
    cell = {"transition": 2, "kind": "weights", "row": 0, "column": 0, "value": -2.0}
    after = _patch(client, origin["id"], {"cells": [cell]})
    assert after["loss"] != origin["loss"]


@pytest.mark.parametrize(("cell", "field"), [
    ({"transition": 0, "kind": "weights", "row": 2, "column": 0, "value": 1}, "cells[0].row"),
    ({"transition": 0, "kind": "weights", "row": 0, "column": 3, "value": 1}, "cells[0].column"),
    ({"transition": 3, "kind": "weights", "row": 0, "column": 0, "value": 1},
     "cells[0].transition"),
    ({"transition": 0, "kind": "weights", "column": 0, "value": 1}, "cells[0].row"),
    ({"transition": 0, "kind": "biases", "column": 5, "value": 1}, "cells[0].column"),
])
def test_bad_cell_index_names_the_field(client, origin, assert_error, cell, field):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"cells": [cell]})
    assert_error(resp, 422, field)


def test_bad_second_cell_is_named_by_its_index(client, origin, assert_error):
    good = {"transition": 0, "kind": "biases", "column": 0, "value": 1}
    bad = {"transition": 0, "kind": "biases", "column": 9, "value": 1}
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"cells": [good, bad]})
    assert_error(resp, 422, "cells[1].column")


def test_refused_edit_changes_nothing(client, origin, assert_error):
    bad = {"transition": 0, "kind": "weights", "row": 9, "column": 0, "value": 5}
    good = {"transition": 0, "kind": "biases", "column": 0, "value": 5}
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"cells": [good, bad]})
    assert_error(resp, 422, "cells[1].row")
    assert client.get(f"/api/sessions/{origin['id']}").json() == origin


def test_non_finite_cell_value_is_named(client, origin, assert_error):
    raw = ('{"cells":[{"transition":0,"kind":"weights","row":0,"column":0,'
           '"value":NaN}]}')
    resp = client.patch(f"/api/sessions/{origin['id']}", content=raw.encode(),
                        headers={"content-type": "application/json"})
    assert_error(resp, 422, "cells[0].value")


def test_if_match_stale_is_412(client, origin, assert_error):
    _patch(client, origin["id"], {"title": "one"})
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"title": "two"},
                        headers={"If-Match": f'"{origin["version"]}"'})
    assert_error(resp, 412, "If-Match", code="stale", limit=origin["version"] + 1)


def test_if_match_stale_changes_nothing(client, origin):
    first = _patch(client, origin["id"], {"title": "one"})
    client.patch(f"/api/sessions/{origin['id']}", json={"title": "two"},
                 headers={"If-Match": f'"{origin["version"]}"'})
    assert client.get(f"/api/sessions/{origin['id']}").json()["title"] == first["title"]


def test_if_match_current_is_200_with_a_new_etag(client, origin):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"title": "one"},
                        headers={"If-Match": f'"{origin["version"]}"'})
    assert resp.status_code == 200
    assert resp.headers["etag"] == f'"{origin["version"] + 1}"'
    assert resp.json()["version"] == origin["version"] + 1


def test_if_match_weak_etag_is_accepted(client, origin):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"title": "one"},
                        headers={"If-Match": f'W/"{origin["version"]}"'})
    assert resp.status_code == 200


def test_if_match_garbage_is_422_naming_the_header(client, origin, assert_error):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"title": "one"},
                        headers={"If-Match": "yesterday"})
    assert_error(resp, 422, "If-Match")


def test_data_edit_keeps_the_step(client, origin):
    _step(client, origin["id"], 5)
    after = _patch(client, origin["id"], {"inputs": [[0.1, 0.2], [0.5, 0.6]]})
    assert after["step"] == 5
    assert after["spec"]["inputs"] == [[0.1, 0.2], [0.5, 0.6]]


def test_data_edit_keeps_the_parameters(client, origin):
    trained = _step(client, origin["id"], 5)
    params = client.get(f"/api/sessions/{origin['id']}").json()["parameters"]
    after = _patch(client, origin["id"], {"targets": [[0.0, 1.0], [1.0, 0.0]]})
    assert after["parameters"] == params
    assert after["step"] == trained["step"]


def test_hyperparameter_edit_keeps_step_and_epoch(client, origin):
    _step(client, origin["id"], 3)
    after = _patch(client, origin["id"], {"optimizer": {"learning_rate": 0.2}})
    assert (after["step"], after["epoch"]) == (3, 3)


def test_data_of_the_wrong_shape_names_both_shapes(client, origin, assert_error):
    resp = client.patch(f"/api/sessions/{origin['id']}",
                        json={"inputs": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]})
    err = assert_error(resp, 422, "targets")
    assert "(2, 2)" in err["message"]
    assert "(3, 2)" in err["message"]


def test_patch_over_the_neuron_limit_is_refused(client, origin, assert_error):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"layers": [2, 65, 3, 2]})
    assert_error(resp, 422, "layers[1]", code="limit_exceeded", limit=64)


def test_patch_server_owned_field_is_unknown(client, origin, assert_error):
    resp = client.patch(f"/api/sessions/{origin['id']}", json={"step": 10})
    assert_error(resp, 422, "step", code="unknown_field")


def test_reinitialize_with_a_new_scheme_draws_new_weights(client, origin):
    resp = client.post(f"/api/sessions/{origin['id']}/reinitialize",
                       json={"scheme": "xavier_uniform", "seed": 3})
    assert resp.status_code == 200
    body = resp.json()
    assert body["parameters"][0]["weights"] != origin["parameters"][0]["weights"]
    assert body["spec"]["init"]["scheme"] == "xavier_uniform"
    assert body["spec"]["init"]["seed"] == 3


def test_reinitialize_goes_back_to_step_zero(client, origin):
    _step(client, origin["id"], 4)
    body = client.post(f"/api/sessions/{origin['id']}/reinitialize",
                       json={"scheme": "he_normal", "seed": 1}).json()
    assert (body["step"], body["epoch"]) == (0, 0)


def test_reinitialize_with_the_same_seed_twice_is_identical(client, origin):
    url = f"/api/sessions/{origin['id']}/reinitialize"
    first = client.post(url, json={"scheme": "he_normal", "seed": 11}).json()
    _step(client, origin["id"], 2)
    second = client.post(url, json={"scheme": "he_normal", "seed": 11}).json()
    assert first["parameters"] == second["parameters"]


def test_reinitialize_with_another_seed_differs(client, origin):
    url = f"/api/sessions/{origin['id']}/reinitialize"
    first = client.post(url, json={"scheme": "he_normal", "seed": 11}).json()
    second = client.post(url, json={"seed": 12}).json()
    assert first["parameters"] != second["parameters"]


def test_reinitialize_unknown_scheme_names_the_field(client, origin, assert_error):
    resp = client.post(f"/api/sessions/{origin['id']}/reinitialize", json={"scheme": "bogus"})
    assert_error(resp, 422, "init.scheme")


def test_reset_restores_initial_parameters_and_step_zero(client, origin):
    _step(client, origin["id"], 6)
    resp = client.post(f"/api/sessions/{origin['id']}/reset", headers=JSON_TYPE)
    assert resp.status_code == 200
    body = resp.json()
    assert body["parameters"] == origin["parameters"]
    assert (body["step"], body["epoch"]) == (0, 0)
    assert body["loss"] == origin["loss"]


def test_reset_after_reinitialize_restores_the_new_draw(client, origin):
    drawn = client.post(f"/api/sessions/{origin['id']}/reinitialize",
                        json={"scheme": "xavier_normal", "seed": 5}).json()
    _step(client, origin["id"], 6)
    body = client.post(f"/api/sessions/{origin['id']}/reset", headers=JSON_TYPE).json()
    assert body["parameters"] == drawn["parameters"]


def test_undo_a_step_restores_parameters_and_step(client, origin):
    _step(client, origin["id"], 1)
    one = client.get(f"/api/sessions/{origin['id']}").json()
    _step(client, origin["id"], 3)
    body = client.post(f"/api/sessions/{origin['id']}/undo", headers=JSON_TYPE).json()
    assert body["step"] == 1
    assert body["parameters"] == one["parameters"]
    assert body["loss"] == one["loss"]


def test_redo_after_undo_restores_the_step(client, origin):
    _step(client, origin["id"], 3)
    trained = client.get(f"/api/sessions/{origin['id']}").json()
    client.post(f"/api/sessions/{origin['id']}/undo", headers=JSON_TYPE)
    body = client.post(f"/api/sessions/{origin['id']}/redo", headers=JSON_TYPE).json()
    assert body["step"] == 3
    assert body["parameters"] == trained["parameters"]


def test_undo_an_edit_restores_the_spec(client, origin):
    _patch(client, origin["id"], {"layers": [2, 4, 3, 2]})
    body = client.post(f"/api/sessions/{origin['id']}/undo", headers=JSON_TYPE).json()
    assert body["spec"]["layers"] == [2, 3, 3, 2]
    assert body["parameters"] == origin["parameters"]


def test_undo_with_nothing_to_undo_is_409(client, origin, assert_error):
    assert_error(client.post(f"/api/sessions/{origin['id']}/undo", headers=JSON_TYPE), 409, None)


def test_redo_with_nothing_to_redo_is_409(client, origin, assert_error):
    assert_error(client.post(f"/api/sessions/{origin['id']}/redo", headers=JSON_TYPE), 409, None)


def test_new_edit_clears_redo(client, origin, assert_error):
    _step(client, origin["id"], 1)
    client.post(f"/api/sessions/{origin['id']}/undo", headers=JSON_TYPE)
    _patch(client, origin["id"], {"title": "fresh"})
    assert_error(client.post(f"/api/sessions/{origin['id']}/redo", headers=JSON_TYPE), 409, None)


def test_huge_finite_cells_are_accepted(client, origin):
    cells = [{"transition": 0, "kind": "weights", "row": r, "column": 0, "value": 1e308}
             for r in (0, 1)]
    after = _patch(client, origin["id"], {"cells": cells})
    assert [row[0] for row in after["parameters"][0]["weights"]] == [1e308, 1e308]
