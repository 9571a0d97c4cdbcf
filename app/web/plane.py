"""Pictures of the input plane for 2-D problems: the output map, every neuron's map, the
features and the datasets, as PNG data URIs.

Measured choices (numbers in docs/performance.md):
- Maps are computed in float32 on a RESOLUTION² grid (0.9 ms for a 2-8-8-8-1 net, 3.7 ms
  in float64): pictures in 32 shades, never numbers shown.
- A map travels as a PNG of 32 shades with the palette as its colour table (orange ←
  white → blue, `format`'s): 30–45 % fewer bytes than an RGB PNG, and the browser colours it
  as it decodes it (an SVG filter over greyscale pictures cost the page ~10 ms a frame).
- The tiled neurons' maps go as one picture, a TILE-pixel tile per neuron (a row per
  layer): one PNG header and one deflate stream for all of them, decoded once.
A multiclass output is coloured here (each point in its arg-max class's colour) as RGB.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.engine.datasets import DATASETS, FEATURES, RADIUS, DatasetSpec, generate
from app.engine.maps import input_maps, maps_at, neuron_maps, output_map, plane
from app.sessions import costs
from app.sessions.model import Problem, Session

from .format import NEGATIVE, POSITIVE, ZERO

Array = NDArray[np.float64]
RESOLUTION = 64  # grid points per side of every map
TILE = 16  # pixels per side of a neuron's or a feature's map (every STRIDE-th grid point)
STRIDE = RESOLUTION // TILE
LEVELS = 32  # shades of a map, −1 … 1
PNG_EFFORT = 3  # zlib level: 15 % larger than level 6 at half the time (a 64² map: ~0.3 ms)
SIZE = 360  # the output map's side on the page, in pixels
MAX_POINTS = 1000  # points drawn on the output map, train and test each
ALL_FEATURES = tuple(FEATURES)
FEATURE_LABELS = [(key, f.label) for key, f in FEATURES.items()]
CLASS_COLOURS = np.array([(230, 120, 20), (30, 100, 200), (0, 137, 123), (142, 68, 173),
                          (194, 24, 91), (109, 76, 65), (94, 53, 177), (120, 144, 156)],
                         dtype=np.float64)  # (8, 3): one colour per class, for multiclass


def signed(values: Array, activation: str | None,
           axis: tuple[int, ...] | None = None) -> Array:
    """Return values mapped to −1…1: bounded activations by their range, others by their
    largest finite magnitude (over `axis`: each map of a stack by its own)."""
    if activation in ("sigmoid", "softmax"):
        return np.clip(2.0 * values - 1.0, -1.0, 1.0)
    if activation == "tanh":
        return np.clip(values, -1.0, 1.0)
    magnitude = np.where(np.isfinite(values), np.abs(values), 0.0)
    scale = magnitude.max(axis=axis, keepdims=axis is not None)
    with np.errstate(invalid="ignore"):
        return np.clip(values / np.where(scale > 0, scale, 1.0), -1.0, 1.0)


def _uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_EFFORT)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _palette() -> list[int]:
    """Return the colour table of the shades: shade k is t = 2k/(LEVELS − 1) − 1, coloured
    as `format.colour` colours it."""
    table: list[int] = []
    for k in range(LEVELS):
        t = 2 * k / (LEVELS - 1) - 1
        end = POSITIVE if t >= 0 else NEGATIVE
        table += [round(z + (e - z) * abs(t)) for z, e in zip(ZERO, end, strict=True)]
    return table


PALETTE = _palette()


def shades(t: Array) -> NDArray[np.uint8]:
    """Return the shade numbers 0 … LEVELS − 1 of values t in −1…1 (non-finite: white)."""
    level = np.rint((np.nan_to_num(np.clip(t, -1.0, 1.0), nan=0.0) + 1.0) * ((LEVELS - 1) / 2.0))
    return level.astype(np.uint8)


def shade_png(t: Array) -> str:
    """Return a map of values t (h, w) in −1…1 as a PNG of shades with the palette."""
    image = Image.fromarray(shades(t), "P")
    image.putpalette(PALETTE)
    return _uri(image)


def _mix(colours: Array, strength: Array) -> NDArray[np.uint8]:
    """Return colours (…, 3) faded towards the palette's white by 1 − strength."""
    zero = np.array(ZERO, dtype=np.float64)
    return np.rint(zero + (colours - zero) * strength[..., None]).astype(np.uint8)


def class_png(probabilities: Array, discrete: bool) -> str:
    """Return a multiclass output map: each point in its arg-max class's colour."""
    k = probabilities.shape[1]
    best = probabilities.argmax(axis=1)  # (points,)
    strength = np.ones(best.shape) if discrete else np.clip(
        (probabilities.max(axis=1) - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
    rgb = _mix(CLASS_COLOURS[best % len(CLASS_COLOURS)], 0.25 + 0.75 * strength)
    return _uri(Image.fromarray(rgb.reshape(RESOLUTION, RESOLUTION, 3), "RGB"))


def maps(s: Session) -> list[Array]:
    """Return every layer's map over the grid: layer l → (RESOLUTION², neurons), float32.

    A network with more than `costs.MAP_CELLS` grid points × neurons gets its hidden
    layers' maps at the tiles' TILE² points only (all a tile shows) and the output's over
    the whole grid, a chunk of points at a time.
    """
    assert s.problem is not None
    features, neurons = features_of(s.problem), sum(s.spec.layers[1:])
    if RESOLUTION * RESOLUTION * neurons <= costs.MAP_CELLS:
        return neuron_maps(s.spec, s.parameters, features, RESOLUTION, np.float32)
    first = STRIDE // 2
    points = plane(RESOLUTION)[1].reshape(RESOLUTION, RESOLUTION, 2)[first::STRIDE,
                                                                        first::STRIDE]
    coarse = maps_at(s.spec, s.parameters, features, points.reshape(-1, 2), np.float32)
    out = output_map(s.spec, s.parameters, features, RESOLUTION,
                     max(RESOLUTION, costs.MAP_CELLS // neurons), np.float32)
    return [*coarse[:-1], out]


def features_of(problem: Problem) -> list[str]:
    """Return the input features of a 2-D problem, in the network's input order."""
    return list(problem.recipe.get("features") or ["x1", "x2"])


def output_picture(s: Session, layers: list[Array], discrete: bool) -> str:
    """Return the output map: shades of the one output, or each point's class colour."""
    out = layers[-1].astype(np.float64)  # (RESOLUTION², outputs)
    if out.shape[1] > 1:
        return class_png(out, discrete)
    t = signed(out[:, 0], s.spec.transition_activations[-1]).reshape(RESOLUTION, RESOLUTION)
    return shade_png(np.sign(t) if discrete else t)


def _thumb(values: Array) -> Array:
    """Return a map's every STRIDE-th grid point, centred in its block: (TILE, TILE)."""
    first = STRIDE // 2
    return values.reshape(RESOLUTION, RESOLUTION)[first::STRIDE, first::STRIDE]


def tiled(s: Session) -> int:
    """Return how many layers have their neurons' maps as tiles: the hidden ones, and the
    output layer when it has several neurons (a multiclass output: one map per class)."""
    return s.spec.transitions - (s.spec.layers[-1] == 1)


def hidden_tiles(s: Session, layers: list[Array]) -> str | None:
    """Return the tiled layers' neuron maps as one picture: row l − 1 holds layer l's."""
    hidden = layers[: tiled(s)]
    if not hidden:
        return None
    acts = s.spec.transition_activations
    width = min(max(m.shape[1] for m in hidden), costs.DIAGRAM_NEURONS)  # the drawn ones
    sheet = np.zeros((TILE * len(hidden), TILE * width))  # unused tiles: white (0)
    first = STRIDE // 2
    for l, layer in enumerate(hidden):
        n = min(layer.shape[1], width)
        if layer.shape[0] == TILE * TILE:  # computed at the tiles' points only (`maps`)
            grid = layer[:, :n].reshape(TILE, TILE, n)
        else:
            grid = layer[:, :n].reshape(RESOLUTION, RESOLUTION, n)[first::STRIDE,
                                                                    first::STRIDE, :]
        tiles = signed(grid.astype(np.float64), acts[l], axis=(0, 1))  # (TILE, TILE, n)
        sheet[l * TILE:(l + 1) * TILE, : n * TILE] = tiles.transpose(0, 2, 1).reshape(
            TILE, n * TILE)
    return shade_png(sheet)


@lru_cache(maxsize=16)
def feature_pictures(names: tuple[str, ...]) -> dict[str, str]:
    """Return each feature's map (scaled by its largest value on the plane)."""
    values = input_maps(list(names), RESOLUTION)  # (RESOLUTION², features)
    return {n: shade_png(_thumb(signed(values[:, k], None))) for k, n in enumerate(names)}


@lru_cache(maxsize=1)
def dataset_pictures() -> dict[str, str]:
    """Return a small picture of each dataset: its points on white (drawn once)."""
    side = 44
    pictures = {}
    for name in DATASETS:
        data = generate(DatasetSpec(name, points=300, noise=0.0, seed=0, classes=4))
        rgb = np.full((side, side, 3), ZERO, dtype=np.uint8)
        px = np.clip(((data.inputs + RADIUS) / (2 * RADIUS) * (side - 1)).round().astype(int),
                     0, side - 1)
        kind = "regression" if data.problem == "regression" else ""
        for (x, y), target in zip(px.tolist(), data.targets, strict=True):
            rgb[side - 1 - y, x] = point_rgb(target, kind)
        pictures[name] = _uri(Image.fromarray(rgb, "RGB"))
    return pictures


def point_rgb(target: Array, kind: str) -> tuple[int, int, int]:
    """Return the colour of one data point from its target row."""
    if kind == "regression":
        t = float(np.clip(target[0], -1.0, 1.0))
        end = POSITIVE if t >= 0 else NEGATIVE
        r, g, b = (round(z + (e - z) * abs(t)) for z, e in zip(ZERO, end, strict=True))
        return r, g, b
    if target.shape[0] == 1:
        return POSITIVE if target[0] > 0.5 else NEGATIVE
    r, g, b = (int(v) for v in CLASS_COLOURS[int(np.argmax(target)) % len(CLASS_COLOURS)])
    return r, g, b


def point_colour(target: Array, kind: str) -> str:
    """Return the fill of one data point, as rgb() text."""
    return "rgb({},{},{})".format(*point_rgb(target, kind))


def _px(points: Array) -> list[tuple[float, float]]:
    """Return plane points (x₁, x₂ in ±RADIUS) as pixel positions on the output map."""
    half = SIZE / 2
    return [(round(half + float(x) / RADIUS * half, 1), round(half - float(y) / RADIUS * half, 1))
            for x, y in points]


def _points(plane: Array, targets: Array, kind: str) -> list[tuple[float, float, str]]:
    step = max(1, -(-plane.shape[0] // MAX_POINTS))  # every step-th point: at most MAX_POINTS
    return [(x, y, point_colour(t, kind))
            for (x, y), t in zip(_px(plane[::step]), targets[::step], strict=True)]


def legend(s: Session) -> dict[str, Any]:
    """Return what the output map's colour legend shows."""
    assert s.problem is not None
    act = s.spec.transition_activations[-1]
    if s.spec.layers[-1] > 1:
        return {"classes": [f"rgb({r:.0f},{g:.0f},{b:.0f})" for r, g, b in
                            CLASS_COLOURS[: s.spec.layers[-1]]]}
    if act in ("sigmoid", "softmax"):
        return {"low": "0", "mid": "0.5", "high": "1"}
    if act == "tanh":
        return {"low": "−1", "mid": "0", "high": "1"}
    return {"low": "−max", "mid": "0", "high": "+max"}


def data_context(p: Problem) -> dict[str, Any]:
    """Return what the data column shows of a 2-D problem: its recipe, the datasets and
    the input features, each with its picture."""
    names = features_of(p)
    return {"recipe": p.recipe, "kind": p.kind, "datasets": dataset_pictures(),
            "features": [(key, label, key in names) for key, label in FEATURE_LABELS],
            "feature_pictures": feature_pictures(ALL_FEATURES)}


def plane_context(s: Session, layers: list[Array], show_test: bool,
                  discrete: bool) -> dict[str, Any]:
    """Return the data column's pictures, the output map, the hidden maps, the points and
    the legend."""
    p = s.problem
    assert p is not None
    kind = "regression" if p.kind == "regression" else ""
    return {
        **data_context(p),
        "output": output_picture(s, layers, discrete), "tiles": hidden_tiles(s, layers),
        "size": SIZE, "tile": TILE, "tile_rows": tiled(s),
        "tile_cols": min(max(s.spec.layers[1 : tiled(s) + 1], default=1),
                         costs.DIAGRAM_NEURONS),
        "train": _points(p.plane_train, s.targets, kind),
        "test": _points(p.plane_test, p.test_targets, kind) if show_test else [],
        "legend": legend(s), "radius": RADIUS,
    }
