"""Optimisers with explicit, saveable state, and the weight penalties they add.

Each optimiser turns a gradient g into a step Δ (so the update trace can show it) and
updates its own state in place; the caller adds Δ to the parameter. State is a dict of
named float64 arrays per parameter (plus the Adam step count), which round-trips through
`state_to_lists` / `state_from_lists` exactly.

Formulas (per parameter array, elementwise):
- sgd:       Δ = −lr·g
- momentum:  v ← μv − lr·g;  Δ = v  (Nesterov: Δ = μv − lr·g, Sutskever et al. 2013)
- rmsprop:   s ← ρs + (1−ρ)g²;  Δ = −lr·g / (√s + ε)
- adam:      m ← β1·m + (1−β1)g;  v ← β2·v + (1−β2)g²;  t ← t+1;
             Δ = −lr·m̂ / (√v̂ + ε) with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)  (Kingma & Ba 2015)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .spec import (
    OPTIMIZER_NAMES,
    REGULARIZER_KINDS,
    OptimizerSpec,
    RegularizationSpec,
    check_registry,
)

Array = NDArray[np.float64]


@dataclass
class OptimizerState:
    """Slots per parameter array (same order as params.flat) and the update count."""

    slots: dict[str, list[Array]] = field(default_factory=dict)  # name -> one per array
    t: int = 0  # updates taken (Adam's bias correction)

    def copy(self) -> OptimizerState:
        """Return a deep copy."""
        return OptimizerState({k: [a.copy() for a in v] for k, v in self.slots.items()}, self.t)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists of nested lists)."""
        return {"t": self.t, "slots": {k: [a.tolist() for a in v] for k, v in self.slots.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizerState:
        """Rebuild state from `to_dict` output."""
        slots = {
            k: [np.array(a, dtype=np.float64) for a in v] for k, v in data.get("slots", {}).items()
        }
        return cls(slots, int(data.get("t", 0)))


@dataclass(frozen=True)
class Hyper:
    """An optimiser's constants as 0-d arrays, made once per run (cheaper in ufunc calls)."""

    spec: OptimizerSpec
    neg_lr: Array  # −η
    lr: Array  # η
    momentum: Array  # μ
    rho: Array  # ρ
    one_minus_rho: Array  # 1 − ρ
    epsilon: Array  # ε
    beta1: Array  # β₁
    one_minus_beta1: Array
    beta2: Array  # β₂
    one_minus_beta2: Array


def prepare(opt: OptimizerSpec) -> Hyper:
    """Return the optimiser's constants as 0-d float64 arrays."""
    def c(v: float) -> Array:
        return np.array(float(v))

    return Hyper(opt, c(-opt.learning_rate), c(opt.learning_rate), c(opt.momentum), c(opt.rho),
                 c(1.0 - opt.rho), c(opt.epsilon), c(opt.beta1), c(1.0 - opt.beta1),
                 c(opt.beta2), c(1.0 - opt.beta2))


StepFn = Callable[[Hyper, OptimizerState, int, Array, Array], Array]


def _sgd(h: Hyper, state: OptimizerState, i: int, g: Array, out: Array) -> Array:
    return np.multiply(g, h.neg_lr, out)


def _momentum(h: Hyper, state: OptimizerState, i: int, g: Array, out: Array) -> Array:
    v = state.slots["velocity"][i]
    np.multiply(v, h.momentum, v)
    np.multiply(g, h.lr, out)
    np.subtract(v, out, v)  # v ← μv − η·g
    if h.spec.nesterov:
        np.multiply(v, h.momentum, out)
        return np.subtract(out, h.lr * g, out)  # μv − η·g
    np.copyto(out, v)
    return out


def _rmsprop(h: Hyper, state: OptimizerState, i: int, g: Array, out: Array) -> Array:
    s = state.slots["square_avg"][i]
    np.multiply(s, h.rho, s)
    np.multiply(g, g, out)
    np.multiply(out, h.one_minus_rho, out)
    np.add(s, out, s)  # s ← ρs + (1−ρ)g²
    np.sqrt(s, out)
    np.add(out, h.epsilon, out)
    np.divide(g, out, out)
    return np.multiply(out, h.neg_lr, out)


def _adam(h: Hyper, state: OptimizerState, i: int, g: Array, out: Array) -> Array:
    m, v = state.slots["m"][i], state.slots["v"][i]
    np.multiply(m, h.beta1, m)
    np.multiply(g, h.one_minus_beta1, out)
    np.add(m, out, m)  # m ← β1·m + (1−β1)g
    np.multiply(v, h.beta2, v)
    np.multiply(g, g, out)
    np.multiply(out, h.one_minus_beta2, out)
    np.add(v, out, v)  # v ← β2·v + (1−β2)g²
    t = state.t + 1  # the caller advances state.t after every array is updated
    opt = h.spec
    np.multiply(v, 1.0 / (1.0 - opt.beta2**t), out)  # v̂
    np.sqrt(out, out)
    np.add(out, h.epsilon, out)
    np.divide(m, out, out)
    return np.multiply(out, -opt.learning_rate / (1.0 - opt.beta1**t), out)  # −η·m̂/(√v̂+ε)


@dataclass(frozen=True)
class Optimizer:
    """One optimiser: the names of its state slots and its step function."""

    name: str
    slots: tuple[str, ...]
    step: StepFn
    formula: str


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", (), _sgd, "Δw = −η·g"),
        Optimizer("momentum", ("velocity",), _momentum,
                  "v ← μv − η·g;  Δw = v  (Nesterov: Δw = μv − η·g)"),
        Optimizer("rmsprop", ("square_avg",), _rmsprop,
                  "s ← ρs + (1−ρ)g²;  Δw = −η·g / (√s + ε)"),
        Optimizer("adam", ("m", "v"), _adam,
                  "m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  Δw = −η·m̂ / (√v̂ + ε)"),
    )
}
check_registry("optimizers.OPTIMIZERS", OPTIMIZERS, OPTIMIZER_NAMES)


def new_state(opt: OptimizerSpec, arrays: list[Array]) -> OptimizerState:
    """Return zeroed state for the optimiser, one slot array per parameter array."""
    names = OPTIMIZERS[opt.name].slots
    return OptimizerState({n: [np.zeros_like(a) for a in arrays] for n in names}, 0)


def fit_state(opt: OptimizerSpec, state: OptimizerState, arrays: list[Array]) -> OptimizerState:
    """Return state matching the optimiser and shapes: kept where it fits, zeroed where not."""
    names = OPTIMIZERS[opt.name].slots
    slots: dict[str, list[Array]] = {}
    for n in names:
        old = state.slots.get(n, [])
        slots[n] = [
            old[i] if i < len(old) and old[i].shape == a.shape else np.zeros_like(a)
            for i, a in enumerate(arrays)
        ]
    return OptimizerState(slots, state.t)


@dataclass(frozen=True)
class Regularizer:
    """A weight penalty: its value and its gradient, side by side (biases never penalised)."""

    name: str
    value: Callable[[float, Array], float]  # (rate, W) -> penalty
    gradient: Callable[[float, Array], Array]  # (rate, W) -> ∂penalty/∂W
    formula: str


REGULARIZERS: dict[str, Regularizer] = {
    r.name: r
    for r in (
        Regularizer("none", lambda rate, w: 0.0, lambda rate, w: np.zeros_like(w), "0"),
        Regularizer("l1", lambda rate, w: rate * float(np.abs(w).sum()),
                    lambda rate, w: rate * np.sign(w), "λ·Σ|W|  (gradient λ·sign(W))"),
        Regularizer("l2", lambda rate, w: 0.5 * rate * float(np.vdot(w, w)),
                    lambda rate, w: rate * w, "λ·½ΣW²  (gradient λ·W)"),
    )
}
check_registry("optimizers.REGULARIZERS", REGULARIZERS, REGULARIZER_KINDS)


def penalty(reg: RegularizationSpec, weights: list[Array]) -> float:
    """Return the regularisation term (reported apart from the loss)."""
    r = REGULARIZERS[reg.kind]
    return float(sum(r.value(reg.rate, w) for w in weights))


def penalty_active(reg: RegularizationSpec) -> bool:
    """Return True when the penalty changes the gradient."""
    return reg.kind != "none" and reg.rate > 0
