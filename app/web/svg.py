"""Geometry for the server-rendered pictures: the network diagram and the loss curve.

Only numbers and coordinates are computed here; the SVG markup lives in the templates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from markupsafe import Markup, escape
from numpy.typing import NDArray

from app.engine.activations import ACTIVATIONS
from app.engine.diagnostics import LayerSymmetry
from app.engine.params import Parameters

from .format import colours, num, sub, sup
from .memo import Memo

Array = NDArray[np.float64]
GROUP_COLOURS = ("#8e44ad", "#c2185b", "#00897b", "#6d4c41", "#5e35b1", "#d81b60")


@dataclass(slots=True)
class Node:
    """One neuron on the diagram (not frozen: built every frame, and frozen init is slow)."""

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


class Edge(NamedTuple):
    """One weight on the diagram (a tuple: a net draws hundreds per frame of play)."""

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


EDGE = ('\n      <line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%.2f"%s>'
        '<title>%s</title></line>\n    ')  # one weight: a line, coloured, its value on hover
EDIT = (' class="editable" hx-get="/s/%s/param-editor?transition=%d&kind=weights&row=%d'
        '&column=%d" hx-target="#cell-editor" hx-swap="innerHTML" hx-include="#view"')


@dataclass(frozen=True)
class Diagram:
    """Everything the diagram template draws."""

    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]
    columns: list[tuple[float, str]]  # x and caption of each layer
    radius: float
    layout: Hashable | None = None  # the edges' memo key (None: not remembered)

    def edges_markup(self, sid: str, editable: bool) -> Markup:
        """Return every edge's <line> (click to edit when `editable`), in one pass.

        A net has up to thousands of edges and a diagram is drawn every frame of play:
        markup formatted here costs a tenth of a template loop (edges hold numbers,
        colours and generated names only, nothing to escape but the session id).
        """
        def make() -> Markup:
            safe = str(escape(sid))
            return Markup("".join(
                EDGE % (e.x1, e.y1, e.x2, e.y2, e.stroke, e.width,
                        EDIT % (safe, e.transition, e.row, e.column) if editable else "",
                        e.title) for e in self.edges))

        key = None if self.layout is None else (self.layout, sid, editable)
        return EDGES_MARKUP.get(key, make)


def diagram(layers: tuple[int, ...], activations: tuple[str, ...], params: Parameters,
            values: list[Array], symmetry: tuple[LayerSymmetry, ...], observation: int,
            decimals: int, thumbs: dict[tuple[int, int], str] | None = None,
            key: bytes | None = None) -> Diagram:
    """Lay out the network with neurons coloured by their activation for one observation.

    `values[l]` is layer l's activation row for the observation (layer 0 = inputs);
    `key` (memo.parameters_key) lets the edges, which depend on the weights only, be reused.
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
        fills, inks = colours(row, scale)
        biases = params[l - 1].biases.tolist() if l else []
        bias_fills = colours(params[l - 1].biases, bias_scale)[0] if l else []
        for i, v in enumerate(row.tolist()):
            name = f"{sub(observation)}a{sup(l)}{sub(i)}"
            bias_fill = bias_title = None
            if l:
                bias_fill = bias_fills[i]
                bias_title = f"b{sup(l - 1)}{sub(i)} = {biases[i]!r} (click to edit)"
            nodes.append(Node(l, i, xs[l], y(l, i), fills[i], inks[i],
                              num(v, min(decimals, 3)), f"{name} = {v!r}", bias_fill,
                              bias_title, groups.get((l, i)), (thumbs or {}).get((l, i))))
    layout = None if key is None else (key, layers, radius)
    edges = EDGES.get(layout, lambda: _edges(params, xs, y, radius, weight_scale))
    captions = ["inputs"] + [f"{'output' if l == len(layers) - 1 else 'hidden'} · "
                             f"{activations[l - 1]}" for l in range(1, len(layers))]
    return Diagram(width, height, nodes, edges, list(zip(xs, captions, strict=True)), radius,
                   layout)


def _edges(params: Parameters, xs: list[float], y: Callable[[int, int], float],
           radius: float, weight_scale: float) -> list[Edge]:
    """Return every weight's line: coloured and as wide as its size, its value on hover."""
    edges = []
    for l, t in enumerate(params):
        fan_out = t.weights.shape[1]
        strokes, _ = colours(t.weights, weight_scale)  # non-finite weights are white
        ends = [(sub(j), y(l + 1, j)) for j in range(fan_out)]
        x1, x2 = xs[l] + radius, xs[l + 1] - radius
        for i, row in enumerate(t.weights.tolist()):
            start, y1 = f"w{sup(l)}{sub(i)},", y(l, i)
            for j, w in enumerate(row):
                mag = abs(w) / weight_scale if math.isfinite(w) else 1.0
                end, y2 = ends[j]
                edges.append(Edge(l, i, j, x1, y1, x2, y2,
                                  strokes[i * fan_out + j] if w else "#bbb", 0.6 + 4.4 * mag,
                                  f"{start}{end} = {w!r} (click to edit)"))
    return edges


EDGES: Memo[list[Edge]] = Memo(128)  # (parameters, layers, radius) → edges
EDGES_MARKUP: Memo[Markup] = Memo(128)  # … and session, editable → their markup


@dataclass(frozen=True)
class Curve:
    """The loss curve: a polyline, hover points, edit marks and axis labels."""

    width: float
    height: float
    path: str
    points: list[tuple[str, str, str]]  # x, y (one decimal), title
    marks: list[float]  # x of each edit
    y_top: str
    y_bottom: str
    x_left: str
    x_right: str
    log: bool
    empty: bool
    test_path: str = ""  # the test loss, when there is test data

    def points_markup(self) -> Markup:
        """Return the hover points' <circle>s (their step and exact loss on hover)."""
        return Markup("".join(POINT % point for point in self.points))


POINT = '<circle cx="%s" cy="%s" r="4" class="hover-pt"><title>%s</title></circle>'


def _path(xs: Array, ys: Array) -> str:
    """Return an SVG path through the points, one decimal each (formatted in one pass)."""
    if not xs.size:
        return ""
    return "M" + " L".join(["%.1f,%.1f"] * xs.size) % tuple(np.column_stack([xs, ys]).ravel())


def curve(steps: list[int], losses: list[float], edits: list[int], log: bool,
          width: float = 560, height: float = 190,
          test: tuple[list[int], list[float]] | None = None) -> Curve:
    """Return the loss curve's geometry (log10 of the loss when `log`), test loss too."""
    def keep(at: list[int], vs: list[float]) -> tuple[Array, Array, Array]:
        x, v = np.array(at, dtype=np.float64), np.array(vs, dtype=np.float64)  # (points,)
        ok = np.isfinite(v) & (v > 0) if log else np.isfinite(v)
        with np.errstate(divide="ignore"):
            return x[ok], v[ok], np.log10(v[ok]) if log else v[ok]

    xs, raw, ys = keep(steps, losses)  # (points,) each: step, loss, height plotted
    if not xs.size:
        return Curve(width, height, "", [], [], "", "", "", "", log, True)
    t_xs, _, t_ys = keep(*test) if test else (xs[:0], xs[:0], xs[:0])
    x0, x1 = float(xs.min()), float(xs.max())
    y0 = float(min(ys.min(), t_ys.min())) if t_ys.size else float(ys.min())
    y1 = float(max(ys.max(), t_ys.max())) if t_ys.size else float(ys.max())
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    left, right, top, bottom = 56.0, width - 12.0, 12.0, height - 28.0

    def px(x: Array) -> Array:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(v: Array) -> Array:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    hover_every = max(1, xs.size // 60)  # enough to read values; each point is markup
    hover = list(range(0, xs.size, hover_every))
    if (xs.size - 1) % hover_every:
        hover.append(xs.size - 1)
    h = np.array(hover)
    xy = ("%.1f\0%.1f\0" * h.size % tuple(np.column_stack([px(xs[h]), py(ys[h])]).ravel())
          ).split("\0")  # x, y, x, y, …: formatted in one pass
    points = [(xy[2 * k], xy[2 * k + 1], f"step {int(step)}: loss {loss!r}")
              for k, (step, loss) in enumerate(zip(xs[h].tolist(), raw[h].tolist(),
                                                   strict=True))]
    at = dict.fromkeys(e for e in edits if x0 <= e <= x1)  # edits at one step: one mark
    marks = px(np.array(list(at), dtype=np.float64)).tolist()

    def label(v: float) -> str:
        value = 10**v if log else v
        return f"{value:.3g}"

    inside = (t_xs >= x0) & (t_xs <= x1)
    return Curve(width, height, _path(px(xs), py(ys)), points, marks, label(y1), label(y0),
                 str(int(x0)), str(int(x1)), log, False,
                 _path(px(t_xs[inside]), py(t_ys[inside])))


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

    def bars_markup(self, kind: str) -> Markup:
        """Return the bars' <rect>s (class `bar <kind>`), formatted in one pass."""
        w, k = self.bar_width - 1, str(escape(kind))
        return Markup("".join(BAR % (x, y, w, h, k, t) for x, y, h, t in self.bars))


BAR = '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar %s"><title>%s</title></rect>'


def histogram(values: Array, bins: int = 24, width: float = 180, height: float = 56,
              bounds: tuple[float, float] | None = None) -> Histogram:
    """Return a histogram of the finite values (over `bounds` when given)."""
    finite = values[np.isfinite(values)].ravel()
    if finite.size == 0:
        return Histogram([], 0, "", "", width, height, 0)
    lo, hi = bounds if bounds else (float(finite.min()), float(finite.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges, spans = _bins(lo, hi, bins)
    counts = _counts(finite, edges, lo, hi, bins)
    top = max(int(counts.max()), 1)
    bar_width = width / bins
    bars = [(i * bar_width, height - height * c / top, height * c / top,
             f"{c} values in {span}")
            for i, (c, span) in enumerate(zip(counts.tolist(), spans, strict=True))]
    return Histogram(bars, bar_width, f"{lo:.3g}", f"{hi:.3g}", width, height,
                     int(finite.size))


@lru_cache(maxsize=256)
def _bins(lo: float, hi: float, bins: int) -> tuple[Array, list[str]]:
    """Return the bin edges of [lo, hi] (as `np.histogram` makes them) and each bin's text
    (the same few ranges recur: an activation's bounds are fixed)."""
    edges = np.linspace(lo, hi, bins + 1)  # (bins + 1,)
    return edges, [f"[{edges[i]:.3g}, {edges[i + 1]:.3g})" for i in range(bins)]


def _counts(values: Array, edges: Array, lo: float, hi: float, bins: int) -> NDArray[np.intp]:
    """Return `np.histogram(values, bins, range=(lo, hi))[0]`, without its generic checks.

    Its arithmetic exactly: each value's bin from (x − lo)/(hi − lo)·bins, the last edge in
    the last bin, then one step down or up where rounding put a value across an edge.
    """
    x = values[(values >= lo) & (values <= hi)]
    index = ((x - lo) / (hi - lo) * bins).astype(np.intp)
    index[index == bins] -= 1
    index[x < edges[index]] -= 1
    index[(x >= edges[index + 1]) & (index != bins - 1)] += 1
    return np.bincount(index, minlength=bins)
