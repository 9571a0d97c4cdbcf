"""The page of a big session (19-1024-200-1 on 10,000 rows) and each of its fragments are
bounded in bytes, and each says what it leaves out (app/sessions/costs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

PAGE_BYTES = 5_000_000  # the page with a view open was 233 MB; every response stays under this
VIEW_BYTES = 2_000_000  # a view alone (the walkthrough was 88 MB, the matrices 58 MB)
HEAVY_VIEWS = ("walkthrough", "matrices", "setup")  # the views whose size grows with the net


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """Yield a client of an app with the default (documented) limits."""
    with TestClient(create_app(Settings(store="memory", create_rate=0))) as made:
        yield made


@pytest.fixture(scope="module")
def big(client: TestClient) -> str:
    """Return the id of the big session: seeded random data, through the JSON API."""
    rng = np.random.default_rng(0)
    body = {"layers": [19, 1024, 200, 1], "hidden_activation": "relu",
            "output_activation": "linear", "loss": "mse",
            "inputs": rng.normal(size=(10_000, 19)).round(6).tolist(),
            "targets": rng.normal(size=(10_000, 1)).round(6).tolist()}
    resp = client.post("/api/sessions", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _html(client: TestClient, url: str, most: int = PAGE_BYTES) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text[:500]
    assert len(resp.content) <= most, f"{url}: {len(resp.content):,} bytes"
    return resp.text


def test_the_page_is_bounded_and_says_what_the_diagram_leaves_out(client: TestClient,
                                                                  big: str) -> None:
    html = _html(client, f"/s/{big}")
    assert "showing 32 of layer 1&#39;s 1,024; 32 of layer 2&#39;s 200 neurons" in html
    assert html.count('class="edge"') == 19 * 32 + 32 * 32 + 32


def test_the_page_says_its_misfit_covers_the_first_rows(client: TestClient, big: str) -> None:
    html = _html(client, f"/s/{big}")
    assert 'id="misfit-rows">over the first 886 of 10,000 rows' in html


@pytest.mark.parametrize("view", HEAVY_VIEWS)
def test_a_view_is_bounded(client: TestClient, big: str, view: str) -> None:
    _html(client, f"/s/{big}/views/{view}", VIEW_BYTES)


@pytest.mark.parametrize("view", ["stepper", "walkthrough", "matrices"])
def test_a_trace_view_says_it_shows_the_first_rows_of_the_batch(client: TestClient, big: str,
                                                                view: str) -> None:
    html = _html(client, f"/s/{big}/views/{view}")
    assert ("This step's batch has 10,000 observations; this view shows the first 24"
            in html)


def test_a_large_matrix_says_which_rows_and_columns_it_shows(client: TestClient,
                                                             big: str) -> None:
    html = _html(client, f"/s/{big}/views/matrices")
    assert "showing 40 of 1,025 rows × 60 of 200 columns" in html  # w¹ with its bias row


def test_show_all_is_bounded_and_says_so(client: TestClient, big: str) -> None:
    html = _html(client, f"/s/{big}?v_all=1&tab=matrices")
    assert "showing 250 of 10,000 rows" in html  # the data table: 20 cells a row
    assert "showing 250 of 10,000 rows (a table shows at most 250)" in html  # the outputs


def test_setup_leaves_a_wide_matrix_to_the_api(client: TestClient, big: str) -> None:
    html = _html(client, f"/s/{big}/views/setup")
    assert "w¹ has 204,800 weights, more than the 20,000 a typed matrix holds" in html


def test_the_diagnostics_say_what_they_cover(client: TestClient, big: str) -> None:
    html = _html(client, f"/s/{big}/views/diagnostics?v_gradcheck=1")
    assert 'id="dists-sampled">showing 24 of 10,000 observations' in html
    assert "of 225,681 parameters (a seeded sample from every matrix" in html


def test_the_inspector_lists_some_incoming_weights_and_says_so(client: TestClient,
                                                              big: str) -> None:
    html = _html(client, f"/s/{big}/inspect?unit=neuron&layer=2&index=0")
    assert "showing 64 of 1,024 incoming weights" in html


def test_a_wide_2d_problems_page_is_bounded(client: TestClient) -> None:
    resp = client.post("/api/sessions", json={"dataset": {"name": "spiral", "points": 1000},
                                              "layers": [2, 1024, 200, 1]})
    assert resp.status_code == 201, resp.text
    html = _html(client, f"/s/{resp.json()['id']}")
    assert html.count('class="tile"') == 32 + 32  # the drawn hidden neurons' maps
