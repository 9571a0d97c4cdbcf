"""A frame of play holds the session's own numbers (checked against the engine), carries
only what changed since the last one, and never a NaN."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from app.engine.trace import forward, predict
from app.sessions.service import SessionService
from app.sessions.stores.memory import MemoryStore
from app.settings import Settings
from app.web import diagram, plane
from app.web.format import colour, ink, num
from app.web.frames import Changes, frame
from app.web.gallery import CARDS
from app.web.preferences import Prefs


@pytest.fixture
def service() -> SessionService:
    return SessionService(MemoryStore(), Settings(store="memory", create_rate=0))


def _png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_a_frame_holds_the_engines_numbers(service: SessionService) -> None:
    s = service.create({"example": "xor"})
    s = service.step(s.id, 50).session
    f = frame(service, s, Prefs(decimals=5, observation=2))
    values = [f.a[2] for f in forward(s.spec, s.parameters, s.inputs)]
    assert [label for _, label in f["nodes"]] == [num(v, 3) for a in values for v in a]
    weights = np.concatenate([t.weights.ravel() for t in s.parameters])
    assert f["edges"] == np.rint(weights / np.abs(weights).max() * 1000).astype(int).tolist()
    outputs = predict(s.spec, s.parameters, s.inputs)
    assert [v for _, v in f["out"]] == outputs.ravel().tolist()
    assert [t for t, _ in f["out"]] == [num(v, 5) for v in outputs.ravel()]
    assert f["text"]["misfit"] == num(float(np.max(np.abs(outputs - s.targets))), 4)
    assert f["train"] == [s.progress.step, s.history_losses[-1]]
    assert f["text"]["step"] == "50"


def test_a_frame_carries_only_what_changed(service: SessionService) -> None:
    s = service.create({"example": "origin"})
    changes = Changes()
    first = changes.diff(frame(service, s, Prefs()))
    assert {"nodes", "edges", "biases", "out", "text", "playing", "step"} <= set(first)
    assert changes.diff(frame(service, s, Prefs())) == {"v": s.version}  # nothing changed
    s = service.step(s.id, 1).session
    later = changes.diff(frame(service, s, Prefs()))
    assert "playing" not in later  # still paused
    assert later["text"]["step"] == "1"
    assert "misfit" in later["text"]


def test_a_diverged_session_frames_as_json_without_nan(service: SessionService) -> None:
    s = service.create({"layers": [1, 1], "output_activation": "linear",
                        "optimizer": {"learning_rate": 10.0},
                        "inputs": [[3.0], [4.0]], "targets": [[1.0], [2.0]]})
    s = service.step(s.id, 5000).session
    assert s.status == "diverged"
    text = Changes.encode(frame(service, s, Prefs()))
    assert "NaN" not in text
    assert "Infinity" not in text
    json.loads(text)


def test_a_2d_frame_has_every_map_as_shades(service: SessionService) -> None:
    body = {**CARDS["spiral"].body, "layers": [2, 8, 8, 8, 1],
            "dataset": {**CARDS["spiral"].body["dataset"], "features": ["x1", "x2"]}}
    s = service.create(body)
    f = frame(service, s, Prefs())
    out, tiles = _png(f["maps"]["out"]), _png(f["maps"]["tiles"])
    assert out.shape == (plane.RESOLUTION, plane.RESOLUTION)
    assert tiles.shape == (3 * plane.TILE, 8 * plane.TILE)  # a row of 8 tiles per hidden layer
    assert out.max() <= plane.LEVELS - 1
    assert tiles.max() <= plane.LEVELS - 1
    _, test_acc = service.accuracies(s)
    assert f["text"]["test_accuracy"] == f"{100 * test_acc:.1f} %"
    assert f["test"] == [s.progress.step, s.test_losses[-1]]


def test_a_shade_is_the_signed_value_in_32_levels() -> None:
    t = np.linspace(-1.0, 1.0, 64).reshape(8, 8)
    shades = _png(plane.shade_png(t)).astype(float)
    assert np.abs(shades / (plane.LEVELS - 1) * 2 - 1 - t).max() <= 1 / (plane.LEVELS - 1)


@pytest.mark.parametrize("q", [-1000, -731, -500, -1, 0, 1, 250, 600, 601, 999, 1000])
def test_a_tone_is_the_palettes_colour(q: int) -> None:
    fill, text = diagram.tone_colour(q)
    assert fill == colour(q / 1000, 1.0)
    assert text == ink(q / 1000, 1.0)
    assert diagram.edge_colour(q) == (fill if q else diagram.ZERO_EDGE)
    assert math.isclose(float(diagram.edge_width(q)), 0.6 + 4.4 * abs(q) / 1000, abs_tol=0.005)


def test_the_shades_palette_is_the_pages_palette() -> None:
    """Shade k of a map is drawn in format.colour(2k/31 − 1): the map and the diagram's
    neurons and weights speak one palette."""
    rgb = np.array(plane.PALETTE).reshape(plane.LEVELS, 3)
    for k, (r, g, b) in enumerate(rgb.tolist()):
        assert f"rgb({r},{g},{b})" == colour(2 * k / (plane.LEVELS - 1) - 1, 1.0)


@pytest.mark.parametrize("size", [3, 64, 65, 500])  # either side of the scalar shortcut
def test_tones_are_the_values_in_thousandths_of_the_scale(size: int) -> None:
    rng = np.random.default_rng(size)
    values = rng.normal(size=size) * 3
    edges = [np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5e-4, -2.5e-4, 5e-4]
    for k, v in zip(range(0, size, 7), edges, strict=False):
        values[k] = v
    scale = 2.0
    want = [int(np.rint(np.clip(v / scale, -1, 1) * 1000)) if np.isfinite(v) else 0
            for v in values]
    assert diagram.tones(values, scale) == want
