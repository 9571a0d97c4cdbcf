"""Parameters and data: the arrays a spec acts on, with the checks that keep them sane.

`Parameters` is a tuple of `Transition`s, one per weight matrix: `weights[l]` has shape
(fan_in, fan_out) — row i is from neuron i, column j to neuron j (the origin's w^l) — and
`biases[l]` has shape (fan_out,). The origin's augmented view puts the biases on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .losses import LOSSES
from .spec import NetworkSpec, SpecError

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Transition:
    """The weights and biases feeding one layer."""

    weights: Array  # (fan_in, fan_out)
    biases: Array  # (fan_out,)

    def augmented(self) -> Array:
        """Return the origin's augmented matrix: biases as the top row."""
        return np.vstack([self.biases[None, :], self.weights])  # (1 + fan_in, fan_out)

    def copy(self) -> Transition:
        """Return a deep copy."""
        return Transition(self.weights.copy(), self.biases.copy())


Parameters = tuple[Transition, ...]


def flat(params: Parameters) -> list[Array]:
    """Return [W0, b0, W1, b1, …] — the arrays themselves, not copies."""
    return [arr for t in params for arr in (t.weights, t.biases)]


def parameters_equal(a: Parameters, b: Parameters) -> bool:
    """Return True when every matrix is bit-for-bit equal."""
    return len(a) == len(b) and all(
        np.array_equal(x, y) for x, y in zip(flat(a), flat(b), strict=True)
    )


def as_matrix(values: ArrayLike, field: str, shape: tuple[int, int] | None = None) -> Array:
    """Return values as a finite float64 matrix, or raise SpecError naming the bad cell."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(field, "must be a rectangular matrix of numbers") from None
    if arr.ndim != 2:
        raise SpecError(field, f"must be a matrix (a list of rows), got {arr.ndim} dimensions")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise SpecError(f"{field}[{r}][{c}]", f"must be a finite number, got {arr[r, c]}")
    if shape is not None and arr.shape != shape:
        raise SpecError(field, f"has shape {arr.shape}, expected {shape}")
    return arr


def as_vector(values: ArrayLike, field: str, size: int | None = None) -> Array:
    """Return values as a finite float64 vector, or raise SpecError naming the bad cell."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(field, "must be a list of numbers") from None
    if arr.ndim != 1:
        raise SpecError(field, f"must be a list of numbers, got {arr.ndim} dimensions")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise SpecError(f"{field}[{int(bad[0])}]", f"must be a finite number, got {arr[bad[0]]}")
    if size is not None and arr.shape != (size,):
        raise SpecError(field, f"has {arr.shape[0]} values, expected {size}")
    return arr


def check_data(spec: NetworkSpec, inputs: ArrayLike, targets: ArrayLike) -> tuple[Array, Array]:
    """Return (inputs, targets) as float64 matrices shaped for the spec, or raise SpecError."""
    x = as_matrix(inputs, "inputs")
    y = as_matrix(targets, "targets")
    if x.shape[0] < 1:
        raise SpecError("inputs", "needs at least one observation", 1)
    if x.shape[1] != spec.layers[0]:
        raise SpecError(
            "inputs", f"rows have {x.shape[1]} values but layers[0] is {spec.layers[0]}"
        )
    if y.shape[1] != spec.layers[-1]:
        raise SpecError(
            "targets", f"rows have {y.shape[1]} values but the output layer has {spec.layers[-1]}"
        )
    if y.shape[0] != x.shape[0]:
        raise SpecError(
            "targets", f"has {y.shape[0]} rows but inputs has {x.shape[0]} (shapes "
            f"{y.shape} and {x.shape})"
        )
    bounds = LOSSES[spec.loss].targets_range
    if bounds is not None:
        bad = np.argwhere((y < bounds[0]) | (y > bounds[1]))
        if bad.size:
            r, c = (int(v) for v in bad[0])
            raise SpecError(
                f"targets[{r}][{c}]",
                f"{spec.loss} needs targets in [{bounds[0]}, {bounds[1]}], got {y[r, c]}",
                list(bounds),
            )
    return x, y
