"""Maps over the input plane: what every neuron computes at every point of a grid.

For 2-D problems (the datasets of `datasets.py`), the network's input is a list of
features of the point (x₁, x₂). Evaluating the network on a regular grid of points gives
the output map (the decision boundary, for classification) and one map per hidden neuron
— TensorFlow Playground's pictures, here computed by one batched forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .datasets import RADIUS, featurize
from .params import Parameters, Transition
from .spec import NetworkSpec
from .trace import forward

Array = NDArray[np.float64]


def plane(resolution: int, bound: float = RADIUS) -> tuple[Array, Array]:
    """Return the grid's coordinates (resolution,) and its points (resolution², 2).

    Points run row by row from the top (x₂ = +bound) to the bottom, left to right, so
    reshaping a map to (resolution, resolution) gives an image the right way up.
    """
    xs = np.linspace(-bound, bound, resolution)  # (resolution,)
    x1, x2 = np.meshgrid(xs, xs[::-1])  # (resolution, resolution) each
    return xs, np.column_stack([x1.ravel(), x2.ravel()])  # (resolution², 2)


def neuron_maps(spec: NetworkSpec, params: Parameters, features: Sequence[str],
                resolution: int, dtype: type[np.floating] = np.float64) -> list[Array]:
    """Return every layer's activations over the grid: layer l → (resolution², neurons).

    `dtype=np.float32` computes a picture 3–5 times faster (measured at 80², 2-8-8-8-1):
    enough for a map drawn in a few dozen shades, never for a number shown.
    """
    return maps_at(spec, params, features, plane(resolution)[1], dtype)


def maps_at(spec: NetworkSpec, params: Parameters, features: Sequence[str], points: Array,
            dtype: type[np.floating] = np.float64) -> list[Array]:
    """Return every layer's activations at the given plane points (points, 2): layer l →
    (points, neurons)."""
    inputs = featurize(points, features).astype(dtype, copy=False)  # (points, features)
    with np.errstate(over="ignore", under="ignore"):
        return [f.a for f in forward(spec, _as(params, dtype), inputs)]


def output_map(spec: NetworkSpec, params: Parameters, features: Sequence[str],
               resolution: int, chunk: int, dtype: type[np.floating] = np.float64) -> Array:
    """Return the output layer alone over the grid, (resolution², outputs), computed
    `chunk` points at a time: a wide network's hidden maps never all exist at once."""
    _, points = plane(resolution)
    small = _as(params, dtype)
    parts = []
    with np.errstate(over="ignore", under="ignore"):
        for i in range(0, points.shape[0], max(1, chunk)):
            inputs = featurize(points[i : i + chunk], features).astype(dtype, copy=False)
            parts.append(forward(spec, small, inputs)[-1].a)
    return np.vstack(parts)


def _as(params: Parameters, dtype: type[np.floating]) -> Parameters:
    """Return the parameters in `dtype` (themselves when already float64 and asked for)."""
    if dtype is np.float64:
        return params
    return tuple(Transition(t.weights.astype(dtype), t.biases.astype(dtype)) for t in params)


def input_maps(features: Sequence[str], resolution: int) -> Array:
    """Return each input feature over the grid: (resolution², features)."""
    _, points = plane(resolution)
    return featurize(points, features)
