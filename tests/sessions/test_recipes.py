"""Recipe links: a dataset session's configuration in a URL, rebuilt bit for bit.

Each recipe goes the way a browser takes it: `to_query`, URL-encoded text, parsed back
with `parse_qsl`, `to_body`, then a fresh `create`. The rebuilt session must have the same
spec, the same training and test data and the same initial parameters, compared as
float64 bits. `/r` is exercised through the app with a TestClient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.engine.params import Parameters
from app.engine.spec import spec_to_dict
from app.main import create_app
from app.sessions.model import Session
from app.sessions.service import SessionService
from app.settings import Settings
from app.web import recipes

SETTINGS = {"store": "memory", "create_rate": 0}
CASES: dict[str, dict[str, Any]] = {
    "circle-defaults": {"dataset": {"name": "circle", "points": 120}},
    "circle-features-noise-ratio": {
        "dataset": {
            "name": "circle",
            "points": 150,
            "noise": 0.15,
            "seed": 3,
            "test_ratio": 0.3,
            "features": ["x1", "x2", "x1_squared", "sin_x2"],
        }
    },
    "spiral-adam-full-batch": {
        "dataset": {"name": "spiral", "points": 90, "noise": 0.35, "seed": 11},
        "layers": [2, 6, 6, 1],
        "batch_size": None,
        "optimizer": {
            "name": "adam",
            "learning_rate": 0.0123456789,
            "beta1": 0.85,
            "beta2": 0.995,
            "epsilon": 1e-7,
        },
    },
    "multiclass-overrides-momentum-l2": {
        "dataset": {"name": "multiclass", "points": 80, "classes": 5, "seed": 2},
        "layers": [2, 5, 4, 5],
        "activations": ["relu", "leaky_relu", "softmax"],
        "optimizer": {"name": "momentum", "learning_rate": 0.07, "momentum": 0.8, "nesterov": True},
        "batch_size": 7,
        "shuffle_seed": 9,
        "regularization": {"kind": "l2", "rate": 0.001},
    },
    "multi-gaussian-rmsprop-normal-init": {
        "dataset": {
            "name": "multi_gaussian",
            "points": 60,
            "noise": 0.2,
            "seed": 5,
            "features": ["x1_times_x2", "sin_x1"],
        },
        "init": {"scheme": "normal", "mean": 0.1, "std": 0.3, "seed": 42, "bias": 0.05},
        "optimizer": {"name": "rmsprop", "learning_rate": 0.003, "rho": 0.95},
        "batch_size": 1,
    },
    "xor-uniform-init-l1": {
        "dataset": {"name": "xor", "points": 64, "seed": 1, "test_ratio": 0.1},
        "init": {"scheme": "uniform", "low": -0.3, "high": 0.7, "seed": 1},
        "regularization": {"kind": "l1", "rate": 1e-4},
        "batch_size": 64,
    },
    "gaussian-output-override": {
        "dataset": {"name": "gaussian", "points": 40, "noise": 0.5, "seed": 7},
        "output_activation": "tanh",
        "loss": "mse",
        "hidden_activation": "sigmoid",
        "batch_size": 3,
    },
    "plane-he-sgd": {
        "dataset": {"name": "plane", "points": 50, "seed": 9},
        "init": {"scheme": "he_normal", "seed": 4, "gain": 1.5},
        "optimizer": {"name": "sgd", "learning_rate": 0.1 + 0.2},  # 0.30000000000000004
    },
}


@pytest.fixture
def service() -> SessionService:
    """Return the session service of a fresh app (memory store, no creation limit)."""
    made: SessionService = create_app(Settings(**SETTINGS)).state.service
    return made


@pytest.fixture
def client() -> Iterator[TestClient]:
    """Return a client of a fresh app (memory store, no creation limit)."""
    with TestClient(create_app(Settings(**SETTINGS))) as c:
        yield c


def _rebuild(service: SessionService, s: Session, hide: list[str] | None = None) -> Session:
    """Return a fresh session made from the recipe of `s`, as a browser would pass it."""
    query = dict(parse_qsl(recipes.to_query(s, hide or []), strict_parsing=True))
    return service.create(recipes.to_body(query))


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _same_parameters(a: Parameters, b: Parameters) -> bool:
    return len(a) == len(b) and all(
        _bits(x.weights) == _bits(y.weights) and _bits(x.biases) == _bits(y.biases)
        for x, y in zip(a, b, strict=True)
    )


# --- the round trip -----------------------------------------------------------------------


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_recipe_reproduces_the_spec(service: SessionService, body: dict[str, Any]) -> None:
    s = service.create(body)
    assert spec_to_dict(_rebuild(service, s).spec) == spec_to_dict(s.spec)


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_recipe_reproduces_the_dataset_recipe(
    service: SessionService, body: dict[str, Any]
) -> None:
    s = service.create(body)
    again = _rebuild(service, s)
    assert again.problem is not None
    assert s.problem is not None
    assert again.problem.recipe == s.problem.recipe


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_recipe_reproduces_the_training_data_bit_for_bit(
    service: SessionService, body: dict[str, Any]
) -> None:
    s = service.create(body)
    again = _rebuild(service, s)
    assert _bits(again.inputs) == _bits(s.inputs)
    assert _bits(again.targets) == _bits(s.targets)


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_recipe_reproduces_the_test_data_bit_for_bit(
    service: SessionService, body: dict[str, Any]
) -> None:
    s = service.create(body)
    again = _rebuild(service, s)
    assert again.problem is not None
    assert s.problem is not None
    for name in ("test_inputs", "test_targets", "plane_train", "plane_test"):
        assert _bits(getattr(again.problem, name)) == _bits(getattr(s.problem, name)), name


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_recipe_reproduces_the_initial_parameters_bit_for_bit(
    service: SessionService, body: dict[str, Any]
) -> None:
    s = service.create(body)
    assert _same_parameters(_rebuild(service, s).parameters, s.parameters)


def test_recipe_of_a_trained_session_rebuilds_its_starting_point(service: SessionService) -> None:
    s = service.create(CASES["spiral-adam-full-batch"])
    trained = service.step(s.id, 25).session
    again = _rebuild(service, trained)
    assert again.progress.step == 0
    assert _same_parameters(again.parameters, trained.initial)


def test_recipe_after_a_feature_change_rebuilds_the_sessions_initial_parameters(
    service: SessionService,
) -> None:
    """The playground's own flow: tick features, Regenerate, share the recipe.

    Known bug when written: only transition 0 matches. The session keeps the other
    transitions as first drawn (after a 2-row transition 0), while a fresh session draws
    them after the wider transition 0, so the recipe gives different numbers from layer 2.
    """
    s = service.create({"dataset": {"name": "spiral", "points": 100, "noise": 0.1}})
    features = ["x1", "x2", "x1_squared", "x2_squared", "sin_x1", "sin_x2"]
    s = service.patch(s.id, {"dataset": {"features": features}})
    again = _rebuild(service, s)
    assert _same_parameters(again.parameters, s.initial)


def test_recipe_keeps_the_hidden_activation_beside_per_layer_overrides(
    service: SessionService,
) -> None:
    """Known bug when written: the recipe sends `act` only, so hidden_activation falls
    back to tanh (and a layer added later through the API gets tanh, not relu)."""
    s = service.create(
        {
            "dataset": {"name": "circle", "points": 40},
            "hidden_activation": "relu",
            "activations": ["sigmoid", "tanh", "sigmoid"],
        }
    )
    assert _rebuild(service, s).spec.hidden_activation == "relu"


# --- the query ----------------------------------------------------------------------------


def test_recipe_floats_are_written_exactly(service: SessionService) -> None:
    s = service.create(CASES["plane-he-sgd"])
    query = dict(parse_qsl(recipes.to_query(s, [])))
    assert float(query["lr"]) == 0.1 + 0.2
    assert query["lr"] == repr(0.1 + 0.2)


def test_full_batch_is_written_as_all(service: SessionService) -> None:
    s = service.create(CASES["spiral-adam-full-batch"])
    query = dict(parse_qsl(recipes.to_query(s, [])))
    assert query["batch"] == "all"
    assert recipes.to_body(query)["batch_size"] is None


def test_hide_list_survives_in_order_without_unknown_panels(service: SessionService) -> None:
    s = service.create(CASES["circle-defaults"])
    query = dict(parse_qsl(recipes.to_query(s, ["matrices", "bogus", "data", "check"])))
    assert query["hide"] == "matrices,data,check"


def test_recipe_without_hidden_panels_has_no_hide(service: SessionService) -> None:
    s = service.create(CASES["circle-defaults"])
    assert "hide" not in dict(parse_qsl(recipes.to_query(s, [])))


@pytest.mark.parametrize(
    "broken",
    [
        {"points": "ten"},
        {"noise": "lots"},
        {"ratio": "half"},
        {"seed": "1.5"},
        {"classes": "three"},
        {"layers": "2-x-1"},
        {"lr": "fast"},
        {"init_seed": "seven"},
        {"std": "1,5"},
        {"batch": "ten"},
        {"shuffle": "-"},
        {"reg": "l2", "rate": "0.1.2"},
    ],
)
def test_malformed_number_raises_value_error(broken: dict[str, str]) -> None:
    query = {"dataset": "circle", "points": "40", "layers": "2-4-1", **broken}
    with pytest.raises(ValueError):  # noqa: PT011 — to_body's one documented error
        recipes.to_body(query)


# --- /r and the recipe link ---------------------------------------------------------------


def _recipe_query(client: TestClient, body: dict[str, Any], hide: list[str]) -> str:
    sid = client.post("/api/sessions", json=body).json()["id"]
    resp = client.get(f"/s/{sid}/recipe", params=[("hide", h) for h in hide])
    assert resp.status_code == 200, resp.text
    href = resp.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert urlsplit(href).path == "/r", href
    return urlsplit(href).query


def test_open_recipe_redirects_to_the_new_session_with_its_hidden_panels(
    client: TestClient,
) -> None:
    query = _recipe_query(client, CASES["circle-defaults"], ["matrices", "check"])
    resp = client.get(f"/r?{query}", follow_redirects=False)
    assert resp.status_code == 303
    location = urlsplit(resp.headers["location"])
    assert location.path.startswith("/s/")
    assert location.query == "v_hide=matrices,check"


def test_open_recipe_without_hidden_panels_redirects_to_the_bare_session(
    client: TestClient,
) -> None:
    query = _recipe_query(client, CASES["circle-defaults"], [])
    resp = client.get(f"/r?{query}", follow_redirects=False)
    assert resp.status_code == 303
    assert urlsplit(resp.headers["location"]).query == ""


def test_recipe_session_page_leaves_out_the_hidden_controls(client: TestClient) -> None:
    """A class's recipe hides tabs (matrices, check) and controls (the dataset's, the
    initialisation's); everything else stays."""
    hide = ["matrices", "check", "plane", "init"]
    query = _recipe_query(client, CASES["circle-features-noise-ratio"], hide)
    page = client.get(f"/r?{query}")  # follows the redirect
    assert page.status_code == 200
    for gone in ('data-tab="matrices"', 'data-tab="check"', 'class="init-form"',
                 'class="dataset-form"', 'data-tab="points"'):
        assert gone not in page.text, gone
    for kept in ('data-tab="stepper"', 'data-tab="walkthrough"', 'data-tab="share"',
                 'data-tab="setup"', 'class="layer-controls"', 'class="cb-group settings"'):
        assert kept in page.text, kept


def test_recipe_link_opened_through_r_rebuilds_the_session(client: TestClient) -> None:
    body = CASES["multiclass-overrides-momentum-l2"]
    original = client.post("/api/sessions", json=body).json()
    href = client.get(f"/s/{original['id']}/recipe").text.split('href="', 1)[1].split('"')[0]
    resp = client.get(href.replace("&amp;", "&"), follow_redirects=False)
    sid = urlsplit(resp.headers["location"]).path.rsplit("/", 1)[1]
    copy = client.get(f"/api/sessions/{sid}").json()
    assert sid != original["id"]
    for key in ("spec", "parameters", "dataset", "test_loss"):
        assert copy[key] == original[key], key


def test_damaged_recipe_link_is_refused(client: TestClient) -> None:
    resp = client.get("/r?dataset=circle&points=forty", follow_redirects=False)
    assert resp.status_code == 422
    assert "damaged" in resp.text


def test_recipe_link_counts_towards_the_creation_rate_limit() -> None:
    """Known bug when written: GET /r creates sessions but is not in ratelimit.CREATING,
    so one client can create sessions without limit through recipe links."""
    with TestClient(create_app(Settings(store="memory", create_rate=1))) as c:
        query = "dataset=circle&points=40"
        first = c.get(f"/r?{query}", follow_redirects=False)
        second = c.get(f"/r?{query}", follow_redirects=False)
    assert first.status_code == 303
    assert second.status_code == 429
