"""Losses, each a value and its gradient defined side by side.

Reductions follow DESIGN.md: `sse` is the origin's ΣC, summed over observations and
outputs and never averaged (gradient 2(a − y)); `mse` and `binary_cross_entropy` are means
over observations × outputs; `cross_entropy` is the mean over observations.

The log-losses are computed from the pre-activation z (log-sigmoid, log-softmax), so they
stay finite when a saturates to exactly 0 or 1. Paired with their natural output
activation (`binary_cross_entropy` with sigmoid, `cross_entropy` with softmax) they also
give δ = ∂loss/∂z directly, which is exact where ∂loss/∂a · ∂a/∂z would be 0 · ∞.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

_TINY = 1e-300  # keeps the displayed ∂loss/∂a of log-losses finite when a is exactly 0 or 1


@dataclass(frozen=True)
class Loss:
    """One loss: per-observation contributions, ∂loss/∂a, and the combined δ if any."""

    name: str
    formula: str
    gradient_formula: str
    per_observation: Callable[[Array, Array, Array], Array]  # (z, a, y) -> (observations,)
    dloss_da: Callable[[Array, Array], Array]  # (a, y) -> (observations, outputs)
    fast: Callable[[Array, Array, Array, Array], float]
    # fast(z, a, y, out): the total loss, writing into `out` the gradient backprop starts
    # from — the combined δ when there is one, else ∂loss/∂a. Used by the training loop.
    requires_output: str | None = None  # output activation this loss must sit on
    combined_delta: Callable[[Array, Array], Array] | None = None  # (a, y) -> δ
    combined_formula: str = ""
    targets_range: tuple[float, float] | None = None  # allowed target values

    def value(self, z: Array, a: Array, y: Array) -> float:
        """Return the total loss (the sum of the per-observation contributions)."""
        return float(self.per_observation(z, a, y).sum())


def _sse(z: Array, a: Array, y: Array) -> Array:
    d = a - y
    per: Array = np.einsum("ij,ij->i", d, d)  # (observations,)
    return per


def _sse_grad(a: Array, y: Array) -> Array:
    return 2.0 * (a - y)


def _mse(z: Array, a: Array, y: Array) -> Array:
    return _sse(z, a, y) / a.size


def _mse_grad(a: Array, y: Array) -> Array:
    return 2.0 * (a - y) / a.size


def _log_sigmoid(z: Array) -> Array:
    """Return log σ(z) without overflow: −(max(−z, 0) + log1p(e^(−|z|)))."""
    return -(np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z))))


def _bce(z: Array, a: Array, y: Array) -> Array:
    # −[y log σ(z) + (1 − y) log σ(−z)], elementwise, then the mean over all cells.
    cells = -(y * _log_sigmoid(z) + (1.0 - y) * _log_sigmoid(-z))
    per: Array = cells.sum(axis=1) / a.size  # (observations,)
    return per


def _bce_grad(a: Array, y: Array) -> Array:
    denominator = np.maximum(a, _TINY) * np.maximum(1.0 - a, _TINY)
    grad: Array = (a - y) / denominator / a.size
    return grad


def _bce_delta(a: Array, y: Array) -> Array:
    delta: Array = (a - y) / a.size
    return delta


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=1, keepdims=True)
    logs: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return logs


def _ce(z: Array, a: Array, y: Array) -> Array:
    per: Array = -(y * _log_softmax(z)).sum(axis=1) / a.shape[0]  # (observations,)
    return per


def _ce_grad(a: Array, y: Array) -> Array:
    grad: Array = -y / np.maximum(a, _TINY) / a.shape[0]
    return grad


def _ce_delta(a: Array, y: Array) -> Array:
    # a · Σ_k y_k − y: equals a − y when each target row sums to 1.
    delta: Array = (a * y.sum(axis=1, keepdims=True) - y) / a.shape[0]
    return delta


TWO = np.array(2.0)


def _sse_fast(z: Array, a: Array, y: Array, out: Array) -> float:
    np.subtract(a, y, out)
    value = np.vdot(out, out)  # a NumPy float subclasses float: no conversion needed
    np.multiply(out, TWO, out)
    return value  # type: ignore[return-value]


def _mse_fast(z: Array, a: Array, y: Array, out: Array) -> float:
    np.subtract(a, y, out)
    value = float(np.vdot(out, out)) / a.size
    np.multiply(out, 2.0 / a.size, out)
    return value


def _bce_fast(z: Array, a: Array, y: Array, out: Array) -> float:
    # −[y log σ(z) + (1−y) log σ(−z)] = softplus(z) − y·z, softplus(z) = max(z,0) + log1p(e^−|z|).
    np.abs(z, out)
    np.negative(out, out)
    np.exp(out, out)
    np.log1p(out, out)
    value = (float(out.sum()) + float(np.maximum(z, 0.0).sum()) - float(np.vdot(y, z))) / a.size
    np.subtract(a, y, out)
    np.multiply(out, 1.0 / a.size, out)  # the combined δ = (a − y) / (N·K)
    return value


def _ce_fast(z: Array, a: Array, y: Array, out: Array) -> float:
    # −Σ y·log softmax(z) = Σ_rows (Σy)·logsumexp(z) − Σ y·z, with the max shifted out.
    np.subtract(z, z.max(axis=1, keepdims=True), out)
    weighted = float(np.vdot(y, out))
    np.exp(out, out)
    totals = y.sum(axis=1)  # (observations,)
    value: float = (float(np.dot(totals, np.log(out.sum(axis=1)))) - weighted) / a.shape[0]
    np.multiply(a, totals[:, None], out)
    np.subtract(out, y, out)
    np.multiply(out, 1.0 / a.shape[0], out)  # the combined δ = (a·Σy − y) / N
    return value


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("sse", "ΣC = Σ_o Σ_i (a_i − y_i)²", "∂ΣC/∂a = 2(a − y)", _sse, _sse_grad, _sse_fast),
        Loss("mse", "C = (1 / (N·K)) Σ_o Σ_i (a_i − y_i)²", "∂C/∂a = 2(a − y) / (N·K)",
             _mse, _mse_grad, _mse_fast),
        Loss("binary_cross_entropy",
             "C = −(1 / (N·K)) Σ_o Σ_i [y log a + (1 − y) log(1 − a)]",
             "∂C/∂a = (a − y) / (a(1 − a)·N·K)", _bce, _bce_grad, _bce_fast,
             requires_output="sigmoid", combined_delta=_bce_delta,
             combined_formula="sigmoid + binary cross-entropy: δ = (a − y) / (N·K)",
             targets_range=(0.0, 1.0)),
        Loss("cross_entropy", "C = −(1 / N) Σ_o Σ_i y_i log a_i",
             "∂C/∂a = −y / (a·N)", _ce, _ce_grad, _ce_fast,
             requires_output="softmax", combined_delta=_ce_delta,
             combined_formula="softmax + cross-entropy: δ = (a·Σy − y) / N  (= (a − y) / N "
                              "for one-hot targets)",
             targets_range=(0.0, float("inf"))),
    )
}
