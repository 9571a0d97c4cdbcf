"""Geometry for the server-rendered pictures: the network diagram and the loss curve.

Only numbers and coordinates are computed here; the SVG markup lives in the templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.engine.activations import ACTIVATIONS
from app.engine.diagnostics import LayerSymmetry
from app.engine.params import Parameters

from .format import colour, exact, ink, num, sub, sup

Array = NDArray[np.float64]
GROUP_COLOURS = ("#8e44ad", "#c2185b", "#00897b", "#6d4c41", "#5e35b1", "#d81b60")


@dataclass(frozen=True)
class Node:
    """One neuron on the diagram."""

    layer: int
    index: int
    x: float
    y: float
    fill: str
    text_colour: str
    label: str  # the value shown inside
    title: str  # hover: name and exact values
    bias_fill: str | None
    bias_title: str | None
    group_colour: str | None  # outline of its symmetry group
    thumb: str | None = None  # the neuron's map over the input plane (a PNG data URI)


@dataclass(frozen=True)
class Edge:
    """One weight on the diagram."""

    transition: int
    row: int
    column: int
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str
    width: float
    title: str


@dataclass(frozen=True)
class Diagram:
    """Everything the diagram template draws."""

    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]
    columns: list[tuple[float, str]]  # x and caption of each layer
    radius: float


def diagram(layers: tuple[int, ...], activations: tuple[str, ...], params: Parameters,
            values: list[Array], symmetry: tuple[LayerSymmetry, ...], observation: int,
            decimals: int, thumbs: dict[tuple[int, int], str] | None = None) -> Diagram:
    """Lay out the network with neurons coloured by their activation for one observation.

    `values[l]` is layer l's activation row for the observation (layer 0 = inputs).
    """
    radius = (19.0 if thumbs else 17.0) if max(layers) <= 12 else 10.0
    gap = max(2.6 * radius, min(64.0, 520.0 / max(layers)))
    height = max(layers) * gap + 70
    width = max(560.0, 150.0 * len(layers))
    xs = [60 + i * (width - 120) / (len(layers) - 1) for i in range(len(layers))]

    def y(layer: int, i: int) -> float:
        n = layers[layer]
        return 40 + (height - 70) / 2 + (i - (n - 1) / 2) * gap

    groups: dict[tuple[int, int], str] = {}
    for sym in symmetry:
        for g, members in enumerate(sym.groups):
            for i in members:
                groups[(sym.layer, i)] = GROUP_COLOURS[g % len(GROUP_COLOURS)]
    weight_scale = max((float(np.abs(t.weights).max(initial=0.0)) for t in params), default=1.0)
    weight_scale = weight_scale if weight_scale > 0 and math.isfinite(weight_scale) else 1.0
    bias_scale = max((float(np.abs(t.biases).max(initial=0.0)) for t in params), default=1.0)
    bias_scale = bias_scale if bias_scale > 0 and math.isfinite(bias_scale) else 1.0
    nodes = []
    for l, row in enumerate(values):
        act = ACTIVATIONS[activations[l - 1]] if l else None
        bounds = act.bounds if act else None
        scale = max(abs(bounds[0]), abs(bounds[1])) if bounds else max(
            1.0, float(np.abs(row[np.isfinite(row)]).max(initial=0.0)))
        for i, v in enumerate(row):
            name = f"{sub(observation)}a{sup(l)}{sub(i)}"
            bias_fill = bias_title = None
            title = f"{name} = {exact(float(v))}"
            if l:
                b = float(params[l - 1].biases[i])
                bias_fill = colour(b, bias_scale)
                bias_title = f"b{sup(l - 1)}{sub(i)} = {exact(b)} (click to edit)"
            nodes.append(Node(l, i, xs[l], y(l, i), colour(float(v), scale),
                              ink(float(v), scale), num(float(v), min(decimals, 3)), title,
                              bias_fill, bias_title, groups.get((l, i)),
                              (thumbs or {}).get((l, i))))
    edges = []
    for l, t in enumerate(params):
        for i in range(t.weights.shape[0]):
            for j in range(t.weights.shape[1]):
                w = float(t.weights[i, j])
                mag = abs(w) / weight_scale if math.isfinite(w) else 1.0
                edges.append(Edge(l, i, j, xs[l] + radius, y(l, i), xs[l + 1] - radius,
                                  y(l + 1, j), colour(w if math.isfinite(w) else 0.0,
                                                      weight_scale) if w else "#bbb",
                                  0.6 + 4.4 * mag,
                                  f"w{sup(l)}{sub(f'{i},{j}')} = {exact(w)} (click to edit)"))
    captions = ["inputs"] + [f"{'output' if l == len(layers) - 1 else 'hidden'} · "
                             f"{activations[l - 1]}" for l in range(1, len(layers))]
    return Diagram(width, height, nodes, edges, list(zip(xs, captions, strict=True)), radius)


@dataclass(frozen=True)
class Curve:
    """The loss curve: a polyline, hover points, edit marks and axis labels."""

    width: float
    height: float
    path: str
    points: list[tuple[float, float, str]]  # x, y, title
    marks: list[float]  # x of each edit
    y_top: str
    y_bottom: str
    x_left: str
    x_right: str
    log: bool
    empty: bool
    test_path: str = ""  # the test loss, when there is test data


def curve(steps: list[int], losses: list[float], edits: list[int], log: bool,
          width: float = 560, height: float = 190,
          test: tuple[list[int], list[float]] | None = None) -> Curve:
    """Return the loss curve's geometry (log10 of the loss when `log`), test loss too."""
    def keep(xs: list[int], vs: list[float]) -> list[tuple[int, float]]:
        return [(s, v) for s, v in zip(xs, vs, strict=True)
                if math.isfinite(v) and (v > 0 or not log)]

    pairs = keep(steps, losses)
    tests = keep(*test) if test else []
    if not pairs:
        return Curve(width, height, "", [], [], "", "", "", "", log, True)
    xs = np.array([p[0] for p in pairs], dtype=np.float64)  # (points,)
    raw = np.array([p[1] for p in pairs], dtype=np.float64)  # (points,)
    ys = np.log10(raw) if log else raw
    t_raw = np.array([p[1] for p in tests], dtype=np.float64)  # (test points,)
    t_ys = (np.log10(t_raw) if log else t_raw) if tests else t_raw
    x0, x1 = float(xs.min()), float(xs.max())
    y0 = float(min(ys.min(), t_ys.min())) if tests else float(ys.min())
    y1 = float(max(ys.max(), t_ys.max())) if tests else float(ys.max())
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    left, right, top, bottom = 56.0, width - 12.0, 12.0, height - 28.0

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(v: float) -> float:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    coords = [f"{px(float(a)):.1f},{py(float(b)):.1f}" for a, b in zip(xs, ys, strict=True)]
    hover_every = max(1, len(pairs) // 60)  # enough to read values; each point is markup
    points = [(px(float(xs[i])), py(float(ys[i])), f"step {int(xs[i])}: loss {exact(raw[i])}")
              for i in range(0, len(pairs), hover_every)]
    if (len(pairs) - 1) % hover_every:
        i = len(pairs) - 1
        points.append((px(float(xs[i])), py(float(ys[i])),
                       f"step {int(xs[i])}: loss {exact(raw[i])}"))
    marks = [px(float(e)) for e in edits if x0 <= e <= x1]

    def label(v: float) -> str:
        value = 10**v if log else v
        return f"{value:.3g}"

    test_coords = [f"{px(float(a)):.1f},{py(float(b)):.1f}"
                   for (a, _), b in zip(tests, t_ys, strict=True) if x0 <= a <= x1]
    return Curve(width, height, "M" + " L".join(coords), points, marks, label(y1), label(y0),
                 str(int(x0)), str(int(x1)), log, False,
                 "M" + " L".join(test_coords) if test_coords else "")


@dataclass(frozen=True)
class Histogram:
    """Bars of one distribution, ready to draw."""

    bars: list[tuple[float, float, float, str]]  # x, y, height, title
    bar_width: float
    low: str
    high: str
    width: float
    height: float
    count: int


def histogram(values: Array, bins: int = 24, width: float = 180, height: float = 56,
              bounds: tuple[float, float] | None = None) -> Histogram:
    """Return a histogram of the finite values (over `bounds` when given)."""
    finite = values[np.isfinite(values)].ravel()
    if finite.size == 0:
        return Histogram([], 0, "", "", width, height, 0)
    lo, hi = bounds if bounds else (float(finite.min()), float(finite.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    bar_width = width / bins
    bars = [(i * bar_width, height - height * c / top, height * c / top,
             f"{c} values in [{edges[i]:.3g}, {edges[i + 1]:.3g})")
            for i, c in enumerate(counts.tolist())]
    return Histogram(bars, bar_width, f"{lo:.3g}", f"{hi:.3g}", width, height,
                     int(finite.size))
