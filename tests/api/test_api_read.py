"""GET and DELETE of a session, health probes, the offline docs, and errors of routing."""

from __future__ import annotations

import re

import pytest

JSON_TYPE = {"Content-Type": "application/json"}  # the API takes JSON only, even empty

DESIGN_FIELDS = {"id", "step", "spec", "parameters", "loss", "status"}
SPEC_FIELDS = {"layers", "hidden_activation", "output_activation", "activations", "loss",
               "init", "optimizer", "regularization", "batch_size", "inputs", "targets"}
MALFORMED_IDS = ["short", "A" * 21 + "!", "A" * 23, "%2E%2E%2Fx", "..%2Fx", "A" * 21 + "%2F"]


def test_get_returns_the_design_fields(client, origin):
    body = client.get(f"/api/sessions/{origin['id']}").json()
    assert body.keys() >= DESIGN_FIELDS
    assert body["spec"].keys() >= SPEC_FIELDS
    assert body["spec"]["inputs"] == [[0.8, 0.4], [0.3, 0.3]]
    assert body["spec"]["targets"] == [[0.2, 0.4], [1.0, 0.0]]
    assert body["status"] == "ok"
    assert body["step"] == 0
    assert isinstance(body["loss"], float)


def test_get_parameters_are_one_weights_biases_pair_per_transition(client, origin):
    params = client.get(f"/api/sessions/{origin['id']}").json()["parameters"]
    assert len(params) == 3
    assert all(set(t) == {"weights", "biases"} for t in params)


def test_get_matches_what_create_returned(client, origin):
    body = client.get(f"/api/sessions/{origin['id']}").json()
    assert body == origin


def test_get_sends_the_version_as_etag(client, origin):
    resp = client.get(f"/api/sessions/{origin['id']}")
    assert resp.headers["etag"] == f'"{origin["version"]}"'


def test_get_unknown_id_is_404(client, assert_error):
    assert_error(client.get("/api/sessions/" + "A" * 22), 404, None, code="not_found")


@pytest.mark.parametrize("bad", MALFORMED_IDS)
def test_get_malformed_id_is_404(client, assert_error, bad):
    assert_error(client.get(f"/api/sessions/{bad}"), 404, None)


def test_get_path_traversal_is_404(client, assert_error):
    assert_error(client.get("/api/sessions/../x"), 404, None)


@pytest.mark.parametrize("bad", ["short", "A" * 21 + "!"])
def test_writes_to_a_malformed_id_create_nothing(client, assert_error, bad):
    store = client.app.state.service.store
    before = store.count()
    assert_error(client.patch(f"/api/sessions/{bad}", json={"title": "x"}), 404, None)
    assert_error(client.post(f"/api/sessions/{bad}/step", json={"iterations": 1}), 404, None)
    assert_error(client.post(f"/api/sessions/{bad}/reset", headers=JSON_TYPE), 404, None)
    assert store.count() == before


def test_writes_to_an_unknown_id_create_nothing(client, assert_error):
    store = client.app.state.service.store
    before = store.count()
    sid = "B" * 22
    assert_error(client.patch(f"/api/sessions/{sid}", json={"title": "x"}), 404, None)
    assert_error(client.post(f"/api/sessions/{sid}/step", json={"iterations": 1}), 404, None)
    assert store.count() == before
    assert_error(client.get(f"/api/sessions/{sid}"), 404, None)


def test_delete_answers_204_then_the_session_is_gone(client, origin, assert_error):
    resp = client.delete(f"/api/sessions/{origin['id']}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert_error(client.get(f"/api/sessions/{origin['id']}"), 404, None)


def test_delete_twice_is_404(client, origin, assert_error):
    client.delete(f"/api/sessions/{origin['id']}")
    assert_error(client.delete(f"/api/sessions/{origin['id']}"), 404, None)


def test_delete_frees_a_place_in_a_full_store(make_client):
    client = make_client(max_sessions=1)
    first = client.post("/api/sessions", json={"example": "origin"}).json()
    client.delete(f"/api/sessions/{first['id']}")
    assert client.post("/api/sessions", json={"example": "origin"}).status_code == 201


def test_healthz_is_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_readyz_is_ready(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ready"


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_is_html(client, page):
    resp = client.get(page)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_no_other_host(client, page):
    html = client.get(page).text
    assert re.findall(r"https?://", html) == []
    assert re.findall(r"""["']//""", html) == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_assets_are_served_from_static(client, page):
    urls = _asset_urls(client.get(page).text)
    assert urls
    assert all(u.startswith("/static/") for u in urls), urls
    for url in urls:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_the_apps_openapi(client, page):
    assert "/openapi.json" in client.get(page).text
    assert client.get("/openapi.json").status_code == 200


def test_unknown_route_has_the_error_shape(client, assert_error):
    assert_error(client.get("/api/nothing-here"), 404, None, code="not_found")


def test_wrong_method_has_the_error_shape(client, origin, assert_error):
    assert_error(client.put(f"/api/sessions/{origin['id']}", json={}), 405, None,
                 code="method_not_allowed")
