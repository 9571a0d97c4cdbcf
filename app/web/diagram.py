"""The network diagram: where each neuron and weight sits, and the tone that colours it.

A tone is a value scaled to −1…1 and written as a whole number of thousandths: −1000 is
the palette's orange, 0 its white, 1000 its blue (`format.colour`). Play frames carry
tones, and the page's script turns them into the same colours and line widths as the
template does here (`tone_colour`, `edge_width`), so a frame is a list of small numbers
rather than markup. Neurons scale by their activation's range (or, unbounded, by the
layer's largest value), weights and biases by the largest one of the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.engine.activations import ACTIVATIONS
from app.engine.diagnostics import LayerSymmetry
from app.engine.params import Parameters
from app.sessions.costs import DIAGRAM_NEURONS

from .format import colour, ink, num, sub, sup

Array = NDArray[np.float64]
TONE = 1000  # a tone's whole-number scale: ±TONE is the palette's end
SCALAR_SIZE = 64  # up to this many values, `tones` goes value by value (measured faster)
ZERO_EDGE = "#bbb"  # a weight within a two-thousandth of the largest, drawn grey
GROUP_COLOURS = ("#8e44ad", "#00897b", "#c2185b", "#6d4c41", "#5e35b1", "#ef6c00",
                 "#2e7d32", "#d81b60")  # symmetry groups, numbered across every layer


def tones(values: Array, scale: float) -> list[int]:
    """Return each value's tone relative to ±scale (non-finite values are white)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not (scale > 0 and math.isfinite(scale)):
        return [0] * v.size
    if v.size <= SCALAR_SIZE:  # NumPy's fixed cost is larger than a few scalar steps
        k = TONE / scale
        return [round(max(-TONE, min(TONE, x * k))) if math.isfinite(x) else 0
                for x in v.tolist()]
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.clip(np.where(np.isfinite(v), v / scale, 0.0), -1.0, 1.0)
    return np.rint(t * TONE).astype(np.int64).tolist()  # type: ignore[no-any-return]


def tone_colour(tone: int) -> tuple[str, str]:
    """Return the fill and the readable text colour of a tone."""
    return colour(tone / TONE, 1.0), ink(tone / TONE, 1.0)


def edge_colour(tone: int) -> str:
    """Return a weight's line colour: its tone, or grey for a weight of about zero (a
    white line would vanish)."""
    return colour(tone / TONE, 1.0) if tone else ZERO_EDGE


def edge_width(tone: int) -> str:
    """Return a weight's line width: 0.6 px, up to 5 px for the largest weight."""
    return f"{0.6 + 4.4 * abs(tone) / TONE:.2f}"


def largest(arrays: list[Array]) -> float:
    """Return the largest finite magnitude over the arrays (1 when there is none)."""
    top = 0.0
    for a in arrays:
        biggest = float(np.max(np.abs(a), initial=0.0))
        if not math.isfinite(biggest):
            finite = a[np.isfinite(a)]
            biggest = float(np.abs(finite).max()) if finite.size else 0.0
        top = max(top, biggest)
    return top if top > 0 else 1.0


def node_tones(values: list[Array], activations: tuple[str, ...]) -> list[list[int]]:
    """Return the tones of each layer's neurons (layer 0: the inputs)."""
    out = []
    for l, row in enumerate(values):
        bounds = ACTIVATIONS[activations[l - 1]].bounds if l else None
        scale = max(abs(bounds[0]), abs(bounds[1])) if bounds else max(1.0, largest([row]))
        out.append(tones(row, scale))
    return out


def weight_tones(params: Parameters) -> list[int]:
    """Return every weight's tone, transition by transition, row by row."""
    weights = np.concatenate([t.weights.ravel() for t in params])  # (weights,)
    return tones(weights, largest([weights]))


def bias_tones(params: Parameters) -> list[int]:
    """Return every bias's tone, layer 1 to L."""
    biases = np.concatenate([t.biases for t in params])  # (neurons of layers 1…L,)
    return tones(biases, largest([biases]))


@dataclass(frozen=True)
class Node:
    """One neuron on the diagram."""

    layer: int
    index: int
    x: float
    y: float
    tone: int
    label: str  # the value shown inside
    title: str  # hover: its name and exact value
    bias_tone: int | None
    bias_title: str | None
    ring: str | None  # its symmetry group's colour
    picture: str | None = None  # "feature", "tile" (hidden map) or "output" (2-D problems)
    feature: str | None = None  # the feature a layer-0 picture shows


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
    tone: int
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
    cut: str = ""  # what it leaves out of a wide network ("" when it draws every neuron)


def _rings(symmetry: tuple[LayerSymmetry, ...]) -> dict[tuple[int, int], str]:
    """Return each symmetric neuron's ring colour: one colour per group, across layers."""
    rings: dict[tuple[int, int], str] = {}
    count = 0
    for sym in symmetry:
        for members in sym.groups:
            for i in members:
                rings[(sym.layer, i)] = GROUP_COLOURS[count % len(GROUP_COLOURS)]
            count += 1
    return rings


def drawn(layers: tuple[int, ...]) -> list[int]:
    """Return how many neurons of each layer the diagram draws: the first DIAGRAM_NEURONS."""
    return [min(n, DIAGRAM_NEURONS) for n in layers]


def shown_weight_tones(params: Parameters, counts: list[int]) -> list[int]:
    """Return the tones of the weights drawn (between the neurons drawn), transition by
    transition, row by row, scaled by the largest weight of the network."""
    if all(t.weights.shape == (counts[l], counts[l + 1]) for l, t in enumerate(params)):
        return weight_tones(params)
    scale = largest([t.weights for t in params])
    parts = [t.weights[: counts[l], : counts[l + 1]].ravel() for l, t in enumerate(params)]
    return tones(np.concatenate(parts), scale)


def shown_bias_tones(params: Parameters, counts: list[int]) -> list[int]:
    """Return the tones of the biases drawn, layer 1 to L, scaled by the largest bias."""
    if all(t.biases.size == counts[l + 1] for l, t in enumerate(params)):
        return bias_tones(params)
    scale = largest([t.biases for t in params])
    return tones(np.concatenate([t.biases[: counts[l + 1]] for l, t in enumerate(params)]),
                 scale)


def cut_note(layers: tuple[int, ...]) -> str:
    """Return what the diagram leaves out ("" when it draws every neuron)."""
    counts = drawn(layers)
    cut = [f"{counts[l]:,} of layer {l}'s {n:,}" for l, n in enumerate(layers)
           if counts[l] < n]
    if not cut:
        return ""
    return (f"The diagram draws the first {DIAGRAM_NEURONS} neurons of a layer and the "
            f"weights between them: showing {'; '.join(cut)} neurons. Every number is in the "
            "deep views and the JSON API.")


def diagram(layers: tuple[int, ...], activations: tuple[str, ...], params: Parameters,
            values: list[Array], symmetry: tuple[LayerSymmetry, ...], observation: int,
            features: list[str] | None = None) -> Diagram:
    """Lay out the network, neurons toned by their activation for one observation.

    `values[l]` is layer l's activation row for the observation (layer 0: the inputs);
    `features` (2-D problems) names the inputs, whose nodes then show their pictures, as
    hidden and output nodes show their maps.
    """
    pictures = features is not None
    counts = drawn(layers)  # a wide layer draws its first neurons only
    tall = max(counts)
    radius = (19.0 if pictures else 17.0) if tall <= 12 else 10.0
    gap = max(2.6 * radius, min(96.0, 560.0 / tall))  # small nets: room to read
    height = tall * gap + 40
    width = max(520.0, 150.0 * len(layers))
    xs = [round(44 + i * (width - 88) / (len(layers) - 1), 1) for i in range(len(layers))]

    def y(layer: int, i: int) -> float:
        return round(30 + (height - 40) / 2 + (i - (counts[layer] - 1) / 2) * gap, 1)

    rings = _rings(symmetry)
    node_q, bias_q = node_tones(values, activations), shown_bias_tones(params, counts)
    nodes, b = [], 0
    for l, row in enumerate(values):
        for i, v in enumerate(row[: counts[l]].tolist()):
            name = f"{sub(observation)}a{sup(l)}{sub(i)}"
            bias_tone = bias_title = None
            if l:
                bias = float(params[l - 1].biases[i])
                bias_tone, bias_title, b = bias_q[b], f"b{sup(l - 1)}{sub(i)} = {bias!r}", b + 1
            last = l == len(layers) - 1
            picture = None if not pictures else (
                "feature" if l == 0 else "output" if last and layers[-1] == 1 else "tile")
            nodes.append(Node(l, i, xs[l], y(l, i), node_q[l][i], num(v, 3), f"{name} = {v!r}",
                              bias_tone, bias_title, rings.get((l, i)), picture,
                              features[i] if features is not None and l == 0 else None))
    edges, w = [], shown_weight_tones(params, counts)
    k = 0
    for l, t in enumerate(params):
        x1, x2 = xs[l] + radius, xs[l + 1] - radius
        for i, wrow in enumerate(t.weights[: counts[l], : counts[l + 1]].tolist()):
            for j, value in enumerate(wrow):
                edges.append(Edge(l, i, j, x1, y(l, i), x2, y(l + 1, j), w[k],
                                  f"w{sup(l)}{sub(i)},{sub(j)} = {value!r}"))
                k += 1
    captions = ["inputs"] + [f"{'output' if l == len(layers) - 1 else 'hidden'} · "
                             f"{activations[l - 1]}" for l in range(1, len(layers))]
    captions = [c + (f" · {counts[l]} of {n:,}" if counts[l] < n else "")
                for l, (c, n) in enumerate(zip(captions, layers, strict=True))]
    return Diagram(width, height, nodes, edges, list(zip(xs, captions, strict=True)), radius,
                   cut_note(layers))
