"""POST /api/sessions: create from an example or a spec; validation, limits, body size, store."""

from __future__ import annotations

import numpy as np
import pytest

# The origin's a³ (docs/symmetry-question.txt), printed by its float32 program.
ORIGIN_A3 = [[0.9806908, 0.9806908], [0.9803864, 0.9803864]]
ORIGIN_A3_TOLERANCE = 2e-7
RAW_JSON = {"content-type": "application/json"}


def test_create_answers_201_with_location_and_etag(client):
    resp = client.post("/api/sessions", json={"example": "origin"})
    assert resp.status_code == 201
    body = resp.json()
    assert resp.headers["location"].endswith(f"/api/sessions/{body['id']}")
    assert resp.headers["etag"] == f'"{body["version"]}"'


def test_location_of_a_new_session_serves_it(client):
    resp = client.post("/api/sessions", json={"example": "origin"})
    again = client.get(resp.headers["location"])
    assert again.status_code == 200
    assert again.json()["id"] == resp.json()["id"]


def test_origin_outputs_match_the_origins_a3(origin):
    assert np.allclose(origin["outputs"], ORIGIN_A3, rtol=0, atol=ORIGIN_A3_TOLERANCE)


def test_origin_loss_is_the_sum_of_squares_of_its_a3(origin):
    a3 = np.array(origin["outputs"])
    y = np.array([[0.2, 0.4], [1.0, 0.0]])
    assert origin["loss"] == pytest.approx(float(((a3 - y) ** 2).sum()), rel=1e-12)
    assert origin["loss"] == pytest.approx(1.9082220, abs=1e-6)


def test_origin_starts_with_every_weight_and_bias_one(origin):
    assert [t["weights"] for t in origin["parameters"]] == [
        [[1.0] * 3] * 2, [[1.0] * 3] * 3, [[1.0] * 2] * 3]
    assert [t["biases"] for t in origin["parameters"]] == [[1.0] * 3, [1.0] * 3, [1.0] * 2]


def test_create_from_a_full_spec_keeps_spec_and_data(create, small_spec):
    s = create(small_spec)
    assert s["spec"]["layers"] == [2, 3, 3, 2]
    assert s["spec"]["init"]["scheme"] == "xavier_uniform"
    assert s["spec"]["optimizer"]["learning_rate"] == 0.5
    assert s["spec"]["inputs"] == small_spec["inputs"]
    assert s["spec"]["targets"] == small_spec["targets"]
    assert [np.shape(t["weights"]) for t in s["parameters"]] == [(2, 3), (3, 3), (3, 2)]
    assert s["step"] == 0
    assert s["status"] == "ok"


def test_same_spec_and_seed_give_identical_parameters(create, small_spec):
    assert create(small_spec)["parameters"] == create(small_spec)["parameters"]


def test_create_with_explicit_parameters_uses_them(create):
    body = {"layers": [2, 2, 1], "inputs": [[1, 2]], "targets": [[0.5]],
            "parameters": [{"weights": [[0.1, 0.2], [0.3, 0.4]], "biases": [0.5, 0.6]},
                           {"weights": [[0.7], [0.8]], "biases": [0.9]}]}
    s = create(body)
    assert s["parameters"] == body["parameters"]


def test_explicit_parameters_null_entry_keeps_the_drawn_transition(create):
    base = {"layers": [2, 2, 1], "inputs": [[1, 2]], "targets": [[0.5]]}
    drawn = create(base)["parameters"]
    s = create({**base, "parameters": [None, {"weights": [[0.7], [0.8]]}]})
    assert s["parameters"][0] == drawn[0]
    assert s["parameters"][1] == {"weights": [[0.7], [0.8]], "biases": drawn[1]["biases"]}


def test_explicit_parameters_of_the_wrong_shape_are_refused(client, assert_error):
    body = {"layers": [2, 2, 1], "inputs": [[1, 2]], "targets": [[0.5]],
            "parameters": [{"weights": [[0.1, 0.2, 0.3]]}, None]}
    err = assert_error(client.post("/api/sessions", json=body), 422, "parameters[0].weights")
    assert "(1, 3)" in err["message"]
    assert "(2, 2)" in err["message"]


def test_unknown_example_names_the_example_field(client, assert_error):
    assert_error(client.post("/api/sessions", json={"example": "nope"}), 422, "example")


@pytest.mark.parametrize("missing", ["layers", "inputs", "targets"])
def test_missing_required_field_is_named(client, assert_error, small_spec, missing):
    body = {k: v for k, v in small_spec.items() if k != missing}
    assert_error(client.post("/api/sessions", json=body), 422, missing)


@pytest.mark.parametrize("owned", ["id", "step", "version"])
def test_server_owned_field_is_an_unknown_field(client, assert_error, owned):
    resp = client.post("/api/sessions", json={"example": "origin", owned: 3})
    assert_error(resp, 422, owned, code="unknown_field")


def test_unknown_nested_field_is_named(client, assert_error):
    resp = client.post("/api/sessions", json={"example": "origin", "optimizer": {"lr": 1}})
    assert_error(resp, 422, "optimizer.lr", code="unknown_field")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_input_cell_is_named(client, assert_error, token):
    raw = '{"layers":[2,1],"inputs":[[1, TOKEN]],"targets":[[0]]}'.replace("TOKEN", token)
    resp = client.post("/api/sessions", content=raw.encode(), headers=RAW_JSON)
    assert_error(resp, 422, "inputs[0][1]")


def test_non_finite_target_cell_is_named(client, assert_error):
    raw = '{"layers":[2,1],"inputs":[[1, 2],[3, 4]],"targets":[[0],[NaN]]}'
    resp = client.post("/api/sessions", content=raw.encode(), headers=RAW_JSON)
    assert_error(resp, 422, "targets[1][0]")


def test_non_finite_learning_rate_is_named(client, assert_error):
    raw = '{"example":"origin","optimizer":{"learning_rate":Infinity}}'
    resp = client.post("/api/sessions", content=raw.encode(), headers=RAW_JSON)
    assert_error(resp, 422, "optimizer.learning_rate")


def test_invalid_json_is_refused_with_the_error_shape(client, assert_error):
    resp = client.post("/api/sessions", content=b'{"layers": [2,', headers=RAW_JSON)
    assert_error(resp, 422, None, code="invalid_json")


def test_rows_of_the_wrong_width_name_both_sizes(client, assert_error):
    body = {"layers": [2, 1], "inputs": [[1, 2, 3]], "targets": [[0]]}
    err = assert_error(client.post("/api/sessions", json=body), 422, "inputs")
    assert "3" in err["message"]
    assert "2" in err["message"]


def test_targets_of_the_wrong_width_name_both_sizes(client, assert_error):
    body = {"layers": [2, 1], "inputs": [[1, 2]], "targets": [[0, 1]]}
    err = assert_error(client.post("/api/sessions", json=body), 422, "targets")
    assert "2" in err["message"]
    assert "1" in err["message"]


def test_row_count_mismatch_names_both_shapes(client, assert_error):
    body = {"layers": [2, 1], "inputs": [[1, 2]], "targets": [[0], [1]]}
    err = assert_error(client.post("/api/sessions", json=body), 422, "targets")
    assert "(2, 1)" in err["message"]
    assert "(1, 2)" in err["message"]


def test_ragged_inputs_are_refused(client, assert_error):
    body = {"layers": [2, 1], "inputs": [[1, 2], [3]], "targets": [[0], [1]]}
    assert_error(client.post("/api/sessions", json=body), 422, "inputs")


def test_too_many_layers_is_over_the_limit(client, assert_error):
    body = {"layers": [2] * 12 + [1], "inputs": [[1, 2]], "targets": [[0]]}
    assert_error(client.post("/api/sessions", json=body), 422, "layers",
                 code="limit_exceeded", limit=11)


def test_layer_over_max_neurons_names_the_layer_and_limit(client, assert_error):
    body = {"layers": [2, 3, 65, 1], "inputs": [[1, 2]], "targets": [[0]]}
    assert_error(client.post("/api/sessions", json=body), 422, "layers[2]",
                 code="limit_exceeded", limit=64)


def test_parameters_over_max_is_over_the_limit(client, assert_error):
    body = {"layers": [2, 64, 64, 64, 1], "inputs": [[1, 2]], "targets": [[0]]}
    assert_error(client.post("/api/sessions", json=body), 422, "layers",
                 code="limit_exceeded", limit=5000)


def test_observations_over_max_is_over_the_limit(client, assert_error):
    body = {"layers": [1, 1], "inputs": [[0.5]] * 201, "targets": [[0.5]] * 201}
    assert_error(client.post("/api/sessions", json=body), 422, "inputs",
                 code="limit_exceeded", limit=200)


def test_data_cells_over_max_is_over_the_limit(client, assert_error):
    body = {"layers": [20, 1], "inputs": [[0.5] * 20] * 100, "targets": [[0.5]] * 100}
    assert_error(client.post("/api/sessions", json=body), 422, "inputs",
                 code="limit_exceeded", limit=2000)


def test_layer_of_zero_neurons_is_named(client, assert_error):
    body = {"layers": [2, 0, 1], "inputs": [[1, 2]], "targets": [[0]]}
    assert_error(client.post("/api/sessions", json=body), 422, "layers[1]")


def test_body_over_max_bytes_with_content_length_is_413(client, assert_error):
    raw = b'{"layers":[2,1],"inputs":[' + b"[1,2]," * 50_000 + b'[1,2]],"targets":[[0]]}'
    resp = client.post("/api/sessions", content=raw, headers=RAW_JSON)
    assert "content-length" in {k.lower() for k in resp.request.headers}
    assert_error(resp, 413, None, code="too_large", limit=256 * 1024)


def test_streamed_body_over_max_bytes_is_413(client, assert_error):
    def chunks():
        yield b'{"layers":[2,1],"inputs":['
        for _ in range(50_000):
            yield b"[1,2],"
        yield b'[1,2]],"targets":[[0]]}'

    resp = client.post("/api/sessions", content=chunks(), headers=RAW_JSON)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert_error(resp, 413, None, code="too_large", limit=256 * 1024)


def test_full_store_answers_503_with_retry_after(make_client, assert_error):
    client = make_client(max_sessions=2)
    for _ in range(2):
        assert client.post("/api/sessions", json={"example": "origin"}).status_code == 201
    resp = client.post("/api/sessions", json={"example": "origin"})
    assert_error(resp, 503, None, code="store_full", limit=2)
    assert int(resp.headers["retry-after"]) >= 1


def test_example_with_overrides_applies_them(create):
    s = create({"example": "origin", "optimizer": {"learning_rate": 0.1}, "title": "mine"})
    assert s["spec"]["optimizer"]["learning_rate"] == 0.1
    assert s["title"] == "mine"
    assert s["parameters"][0]["weights"] == [[1.0] * 3] * 2


def test_xor_example_is_the_truth_table(create):
    s = create({"example": "xor"})
    assert s["spec"]["inputs"] == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert s["spec"]["targets"] == [[0.0], [1.0], [1.0], [0.0]]


def test_boolean_layer_size_is_refused(client, assert_error):
    body = {"layers": [True, 2], "inputs": [[1]], "targets": [[1, 0]]}
    assert_error(client.post("/api/sessions", json=body), 422, "layers[0]")


@pytest.mark.parametrize("init", [
    {"scheme": "uniform", "low": -1e308, "high": 1e308},
    {"scheme": "xavier_uniform", "gain": 1e308},
    {"scheme": "he_uniform", "gain": 1e308},
])
def test_extreme_init_parameters_answer_without_server_error(client, init):
    body = {"layers": [2, 2], "inputs": [[1, 1]], "targets": [[1, 0]], "init": init}
    resp = client.post("/api/sessions", json=body)
    assert resp.status_code in (201, 422), resp.text


def test_non_finite_drawn_weights_are_never_reported_ok(client):
    body = {"layers": [2, 2], "inputs": [[1, 1]], "targets": [[1, 0]],
            "init": {"scheme": "normal", "mean": 1e308, "std": 1e308, "seed": 1}}
    resp = client.post("/api/sessions", json=body)
    assert resp.status_code in (201, 422), resp.text
    if resp.status_code == 201:
        s = resp.json()
        cells = [v for t in s["parameters"] for row in t["weights"] for v in row]
        assert None not in cells or s["status"] == "diverged", s["parameters"]
