"""Check my hand calculation: compare a learner's matrix with the trace, cell by cell.

Besides right/wrong per cell, the first wrong cell gets a hint: the formula of the
quantity, and — when the learner's numbers match a common slip (the transposed matrix, a
neighbouring quantity such as a for z, a missing factor 2, a flipped sign, a matrix product
where the chain rule multiplies elementwise) — a sentence naming that slip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.activations import ACTIVATIONS
from app.engine.losses import LOSSES
from app.engine.params import as_matrix
from app.engine.spec import NetworkSpec, SpecError
from app.engine.trace import Trace

from .errors import ServiceError

Array = NDArray[np.float64]
DEFAULT_TOLERANCE = 5e-8  # right to the 7th decimal


def _formula(spec: NetworkSpec, trace: Trace, quantity: str, layer: int) -> str:
    act = ACTIVATIONS[spec.transition_activations[layer - 1]]
    loss = LOSSES[spec.loss]
    L = len(trace.forward)
    p, s = layer - 1, layer
    formulas: dict[str, str] = {
        "z": f"n{s} = a{p}·w{p} + b{p}  (the augmented [1 | a{p}]·[b{p} ; w{p}])",
        "a": f"a{s} = {act.name}(n{s}): {act.formula}",
        "dloss_da": (loss.gradient_formula if layer == L
                     else f"∂C/∂a{s} = δ{s + 1}·(w{s})ᵀ  (δ of the layer above times the "
                          "transposed weights)"),
        "da_dz": f"∂a{s}/∂n{s} = {act.derivative_formula}",
        "delta": (trace.backward_for(layer).combined
                  or f"δ{s} = ∂C/∂a{s} ⊙ ∂a{s}/∂n{s}  (elementwise product)"),
        "grad_weights": f"∂C/∂w{p} = (a{p})ᵀ·δ{s}  (bias row on top if augmented: Σ δ{s})",
        "grad_biases": f"∂C/∂b{p} = Σ over observations of δ{s}",
        "update": f"w{p} ← w{p} + Δ, with Δ from {spec.optimizer.name}",
    }
    return formulas[quantity]


def truth(trace: Trace, quantity: str, layer: int) -> Array | None:
    """Return the trace's matrix for the quantity at the layer (None if it has none)."""
    f = trace.forward[layer - 1]
    b = trace.backward_for(layer)
    u = trace.update[layer - 1]
    table: dict[str, Callable[[], Array | None]] = {
        "z": lambda: f.z, "a": lambda: f.a, "dloss_da": lambda: b.dloss_da,
        "da_dz": lambda: b.da_dz, "delta": lambda: b.delta,
        "grad_weights": lambda: b.grad_weights, "grad_biases": lambda: b.grad_biases[None, :],
        "update": lambda: u.new.weights,
    }
    return table[quantity]()


def _augmented(trace: Trace, quantity: str, layer: int) -> Array | None:
    b = trace.backward_for(layer)
    u = trace.update[layer - 1]
    if quantity == "grad_weights":
        return b.augmented_gradient()
    if quantity == "update":
        return u.new.augmented()
    return None


def _slips(trace: Trace, quantity: str, layer: int, right: Array) -> list[tuple[str, Array]]:
    """Return (description, matrix) of common mistakes for this quantity."""
    f = trace.forward[layer - 1]
    b = trace.backward_for(layer)
    out = [("the sign is flipped", -right), ("it is the transposed matrix", right.T)]
    neighbours = {"z": ("a (after the activation)", f.a), "a": ("n (before the activation)", f.z),
                  "delta": ("∂C/∂a without the activation's derivative", b.dloss_da)}
    if quantity in neighbours:
        name, m = neighbours[quantity]
        out.append((f"these are the values of {name}", m))
    if quantity == "dloss_da":
        out.append(("the factor 2 of the derivative of (a − y)² is missing", right / 2))
    if quantity == "delta" and b.da_dz is not None and b.dloss_da.shape[1] == b.da_dz.shape[0]:
        out.append(("this is a matrix product; the chain rule here multiplies elementwise",
                    b.dloss_da @ b.da_dz))
    if quantity == "update":
        out.append(("the step went uphill (added the gradient instead of subtracting it)",
                    2 * trace.update[layer - 1].old.weights - right))
    return out


def _sampled(trace: Trace) -> str:
    """Return why a trace has fewer rows than its batch ("" when it has them all)."""
    if trace.batch is None or trace.rows is None:
        return ""
    return (f" (this step's batch has {trace.batch:,} observations; its trace, and so the "
            f"check, holds the first {len(trace.rows):,} of them)")


@dataclass(frozen=True)
class CheckResult:
    """The verdict on a learner's matrix."""

    quantity: str
    layer: int
    tolerance: float
    correct: list[list[bool]]
    expected: Array
    submitted: Array
    first_wrong: dict[str, Any] | None
    augmented: bool

    @property
    def all_correct(self) -> bool:
        """Return True when every cell is right."""
        return all(all(row) for row in self.correct)


def check(spec: NetworkSpec, trace: Trace, quantity: str, layer: int, values: Any,
          tolerance: float = DEFAULT_TOLERANCE) -> CheckResult:
    """Compare the learner's matrix with the right one; raise ServiceError on bad input."""
    L = len(trace.forward)
    if not 1 <= layer <= L:
        raise ServiceError(422, "invalid", f"layer must be 1…{L}", "layer", L)
    try:
        submitted = as_matrix(values, "values")
    except SpecError as err:
        raise ServiceError.from_spec(err) from None
    right = truth(trace, quantity, layer)
    if right is None:
        raise ServiceError(422, "invalid", f"{quantity} has no single matrix at layer {layer}: "
                           "softmax's ∂a/∂n is a full Jacobian per observation", "quantity")
    augmented = False
    alt = _augmented(trace, quantity, layer)
    if submitted.shape != right.shape and alt is not None and submitted.shape == alt.shape:
        right, augmented = alt, True
    if submitted.shape != right.shape:
        shapes = f"{right.shape}" + (f" or {alt.shape} (augmented)" if alt is not None else "")
        raise ServiceError(422, "shape_mismatch", f"values has shape {submitted.shape}; "
                           f"{quantity} at layer {layer} has shape {shapes}{_sampled(trace)}",
                           "values", list(right.shape))
    ok = np.abs(submitted - right) <= tolerance
    first = None
    wrong = np.argwhere(~ok)
    if wrong.size:
        r, c = (int(v) for v in wrong[0])
        hint = _formula(spec, trace, quantity, layer)
        slip = next((d for d, m in _slips(trace, quantity, layer, right)
                     if m.shape == submitted.shape and np.allclose(submitted, m, rtol=0,
                                                                   atol=max(tolerance, 1e-12))),
                    None)
        first = {"row": r, "column": c, "expected": float(right[r, c]),
                 "submitted": float(submitted[r, c]), "formula": hint, "likely_slip": slip}
    return CheckResult(quantity, layer, tolerance, ok.tolist(), right, submitted, first,
                       augmented)
