"""Activation functions, each a value and its derivative defined side by side.

Every activation works in place on preallocated buffers (`out=`), so the traced path and
the fast training path share one implementation. Elementwise activations expose
`derivative(z, a)`; softmax is not elementwise, so it exposes only `backward`, the
Jacobian-vector product that turns ∂loss/∂a into δ = ∂loss/∂z.

Trade-off: sigmoid is 1 / (1 + exp(−z)) in four in-place calls. For z < −709, exp(−z)
overflows to inf and the result is exactly 0 (the true value is below 1e−308): callers run
these functions under `np.errstate(over="ignore")` — `activate`, `trace` and `train` do —
so no warning is raised for any |z|.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

LEAKY_SLOPE = 0.01  # slope of leaky_relu for z < 0, as in TensorFlow and PyTorch
ONE = np.array(1.0)  # 0-d constants: a ufunc converts a Python float on every call
ZERO = np.array(0.0)
SLOPE = np.array(LEAKY_SLOPE)


@dataclass(frozen=True)
class Activation:
    """One activation: `forward` writes a = f(z); `backward` writes δ = ∂loss/∂a · ∂a/∂z."""

    name: str
    formula: str  # a = f(n), in the origin's notation
    derivative_formula: str  # ∂a/∂n
    forward: Callable[[Array, Array], Array]  # (z, out) -> out
    backward: Callable[[Array, Array, Array, Array], Array]  # (z, a, g, out) -> out
    derivative: Callable[[Array, Array], Array] | None  # (z, a) -> ∂a/∂z; None if not elementwise
    output_only: bool = False
    bounds: tuple[float, float] | None = None  # range, for saturation diagnostics


def _sigmoid(z: Array, out: Array) -> Array:
    np.negative(z, out)
    np.exp(out, out)  # inf for z < −709: the reciprocal below gives exactly 0
    np.add(out, ONE, out)
    return np.reciprocal(out, out)


def _sigmoid_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    np.subtract(ONE, a, out)
    np.multiply(out, a, out)
    return np.multiply(out, g, out)


def _tanh(z: Array, out: Array) -> Array:
    return np.tanh(z, out)


def _tanh_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    np.multiply(a, a, out)
    np.subtract(ONE, out, out)
    return np.multiply(out, g, out)


def _relu(z: Array, out: Array) -> Array:
    np.maximum(z, ZERO, out=out)
    return out


def _relu_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    np.greater(z, ZERO, out=out, casting="unsafe")
    return np.multiply(out, g, out)


def _leaky_relu(z: Array, out: Array) -> Array:
    np.multiply(z, SLOPE, out)
    return np.maximum(z, out, out=out)


def _leaky_relu_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    slope = np.where(z > 0.0, 1.0, LEAKY_SLOPE)
    return np.multiply(slope, g, out=out)


def _linear(z: Array, out: Array) -> Array:
    np.copyto(out, z)
    return out


def _linear_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    np.copyto(out, g)
    return out


def _softmax(z: Array, out: Array) -> Array:
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _softmax_backward(z: Array, a: Array, g: Array, out: Array) -> Array:
    # δ_i = a_i (g_i − Σ_j g_j a_j): the softmax Jacobian applied to g, row by row.
    inner = np.einsum("ij,ij->i", g, a)[:, None]  # (observations, 1)
    np.subtract(g, inner, out=out)
    out *= a
    return out


def _elementwise_derivative(
    backward: Callable[[Array, Array, Array, Array], Array],
) -> Callable[[Array, Array], Array]:
    """Derive ∂a/∂z from an elementwise backward by feeding it g = 1."""

    def derivative(z: Array, a: Array) -> Array:
        return backward(z, a, np.ones_like(z), np.empty_like(z))

    return derivative


def _make(
    name: str,
    formula: str,
    derivative_formula: str,
    forward: Callable[[Array, Array], Array],
    backward: Callable[[Array, Array, Array, Array], Array],
    *,
    elementwise: bool = True,
    output_only: bool = False,
    bounds: tuple[float, float] | None = None,
) -> Activation:
    derivative = _elementwise_derivative(backward) if elementwise else None
    return Activation(
        name, formula, derivative_formula, forward, backward, derivative, output_only, bounds
    )


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        _make("sigmoid", "σ(n) = 1 / (1 + e^(−n))", "σ(n)(1 − σ(n)) = a(1 − a)",
              _sigmoid, _sigmoid_backward, bounds=(0.0, 1.0)),
        _make("tanh", "tanh(n)", "1 − tanh²(n) = 1 − a²", _tanh, _tanh_backward,
              bounds=(-1.0, 1.0)),
        _make("relu", "max(0, n)", "1 if n > 0 else 0", _relu, _relu_backward),
        _make("leaky_relu", f"max({LEAKY_SLOPE}·n, n)", f"1 if n > 0 else {LEAKY_SLOPE}",
              _leaky_relu, _leaky_relu_backward),
        _make("linear", "n", "1", _linear, _linear_backward),
        _make("softmax", "e^(n_i) / Σ_j e^(n_j)", "a_i(δ_ij − a_j)  (a full Jacobian)",
              _softmax, _softmax_backward, elementwise=False, output_only=True,
              bounds=(0.0, 1.0)),
    )
}


def activate(name: str, z: Array) -> Array:
    """Return f(z) for the named activation, in a new array."""
    with np.errstate(over="ignore"):
        return ACTIVATIONS[name].forward(z, np.empty_like(z))
