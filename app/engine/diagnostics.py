"""Diagnostics: what a learner debugging a network needs to be told, computed from a trace.

- `gradient_check`: central finite differences of the loss against backprop's gradient.
- `symmetry_groups`: hidden neurons that are interchangeable and so stay identical forever.
- `saturation`, `dead_units`: sigmoid/tanh units stuck at their bounds, ReLUs that never fire.
- `gradient_norms`: ‖∂loss/∂W‖ per layer and the update/weight ratio.
- `find_nonfinite`: the first NaN or ±Inf, by layer and quantity, in the order computed.

Symmetry is found as the coarsest partition of each hidden layer that is stable under the
network's own structure: two neurons stay in one group while they have equal biases, equal
total incoming weight from each group of the layer below, and equal total outgoing weight
into each group of the layer above. Neurons in one group compute the same activation for
every input and receive the same δ, so every optimiser here moves them identically — no
amount of training separates them. With distinct inputs and outputs this reduces to the
plain rule "equal incoming weights and bias, equal outgoing weights".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .activations import ACTIVATIONS
from .losses import LOSSES
from .params import Parameters, Transition
from .spec import NetworkSpec
from .trace import Trace

Array = NDArray[np.float64]
SATURATION_MARGIN = 0.01  # a unit within 1 % of its range's ends counts as saturated
SYMMETRY_DECIMALS = 9  # weights equal to 9 decimals (relative) count as equal


# ---------------------------------------------------------------- gradient check
@dataclass(frozen=True)
class GradientCheckEntry:
    """One parameter's analytic and numeric derivative."""

    transition: int
    kind: str  # weights | biases
    index: tuple[int, ...]  # (row, column) for weights, (column,) for biases
    analytic: float
    numeric: float
    relative_error: float


@dataclass(frozen=True)
class GradientCheck:
    """Central finite differences vs backprop over the checked parameters."""

    epsilon: float
    entries: tuple[GradientCheckEntry, ...]
    checked: int
    total: int

    @property
    def max_relative_error(self) -> float:
        """Return the worst relative error (0 when nothing was checked)."""
        return max((e.relative_error for e in self.entries), default=0.0)


def _loss_from(spec: NetworkSpec, params: Parameters, first: int, below: Array,
               targets: Array) -> float:
    """Return the loss with the forward pass started at transition `first`, from `below`
    (the activation feeding it): perturbing a parameter of that transition changes nothing
    under it, so the layers below are not computed again."""
    a = below
    z = a
    for t, name in zip(params[first:], spec.transition_activations[first:], strict=True):
        z = a @ t.weights + t.biases  # (observations, fan_out)
        a = ACTIVATIONS[name].forward(z, np.empty_like(z))
    return LOSSES[spec.loss].value(z, a, targets)


def _chosen(sizes: list[int], count: int, seed: int) -> list[int]:
    """Return `count` flat parameter indices: all of them when there are that few, else a
    seeded sample with every weight matrix and bias vector represented (in a seeded order,
    so a budget that stops early still checks some of each)."""
    total = sum(sizes)
    if total <= count:
        return list(range(total))
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0, *sizes])
    firsts = [int(offsets[k] + rng.integers(size)) for k, size in enumerate(sizes) if size]
    rest = rng.permutation(total)
    picked = dict.fromkeys(firsts)
    for i in rest.tolist():
        if len(picked) >= count:
            break
        picked.setdefault(int(i), None)
    return list(picked)[:count]


def gradient_check(
    spec: NetworkSpec,
    params: Parameters,
    inputs: Array,
    targets: Array,
    trace: Trace,
    epsilon: float = 1e-5,
    max_parameters: int = 2000,
    max_macs: float | None = None,
    seed: int = 0,
) -> GradientCheck:
    """Compare backprop's gradient with (L(θ+ε) − L(θ−ε)) / 2ε, parameter by parameter.

    Large networks check `max_parameters` of them, a seeded sample from every matrix;
    `max_macs` bounds the multiply-adds the finite differences spend (each costs two
    forward passes from the perturbed transition up), so a big network checks fewer.
    The error is |analytic − numeric| / max(|analytic| + |numeric|, 1e-8).
    """
    slots = [(l, kind) for l in range(len(params)) for kind in ("weights", "biases")]
    sizes = [getattr(params[l], kind).size for l, kind in slots]
    offsets = np.cumsum([0, *sizes])
    rows = inputs.shape[0]
    above = np.cumsum([t.weights.size for t in params][::-1])[::-1]  # MACs/row from l up
    work = [Transition(t.weights.copy(), t.biases.copy()) for t in params]
    entries: list[GradientCheckEntry] = []
    spent = 0.0
    with np.errstate(over="ignore"):
        for flat_index in _chosen(sizes, max_parameters, seed):
            s = int(np.searchsorted(offsets, flat_index, side="right") - 1)
            l, kind = slots[s]
            cost = 2.0 * rows * float(above[l])
            if max_macs is not None and entries and spent + cost > max_macs:
                continue  # too dear for what is left: a cheaper one may still fit
            spent += cost
            arr = getattr(work[l], kind)
            index = np.unravel_index(int(flat_index - offsets[s]), arr.shape)
            below = trace.forward[l].input
            original = arr[index]
            arr[index] = original + epsilon
            up = _loss_from(spec, tuple(work), l, below, targets)
            arr[index] = original - epsilon
            down = _loss_from(spec, tuple(work), l, below, targets)
            arr[index] = original
            numeric = (up - down) / (2 * epsilon)
            b = trace.backward_for(l + 1)
            analytic = float((b.grad_weights if kind == "weights" else b.grad_biases)[index])
            error = abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-8)
            entries.append(GradientCheckEntry(l, kind, tuple(int(i) for i in index), analytic,
                                              float(numeric), float(error)))
    entries.sort(key=lambda e: (e.transition, e.kind != "weights", e.index))
    return GradientCheck(epsilon, tuple(entries), len(entries), sum(sizes))


# ---------------------------------------------------------------- symmetry
@dataclass(frozen=True)
class LayerSymmetry:
    """The symmetry groups of one hidden layer."""

    layer: int  # 1 … L−1
    width: int
    groups: tuple[tuple[int, ...], ...]  # neurons that are interchangeable (size ≥ 2)
    effective_width: int  # number of distinct neurons

    @property
    def message(self) -> str:
        """Return one sentence a learner understands, or '' when there is no symmetry."""
        if not self.groups:
            return ""
        which = "; ".join(
            "neurons " + ", ".join(str(i) for i in g) + " are identical" for g in self.groups
        )
        return (
            f"Hidden layer {self.layer}: {which} — they get identical gradients and will "
            f"never differ. Effective width {self.effective_width} of {self.width}."
        )


SYMMETRY_EXPLANATION = (
    "Neurons in one group start with the same incoming weights and bias and send the same "
    "weights onward. So they compute the same activation for every input, backprop hands "
    "them the same error δ, and gradient descent gives each the same update — they stay "
    "copies of each other for ever, and the layer behaves as if it had one neuron per group. "
    "Initialising the weights randomly (e.g. Xavier) makes every neuron different from the "
    "start; that is called breaking the symmetry."
)


def _split(block: list[int], signatures: Array) -> list[list[int]]:
    """Return the block's neurons grouped by equal signature rows (rounding-tolerant: each
    row scaled by its largest magnitude, at least 1), each group in ascending order, the
    groups in the order of their first neuron; a row with a NaN is a group of its own."""
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.abs(signatures).max(axis=1, initial=0.0), 1.0)
        keys = np.round(signatures / scale[:, None], SYMMETRY_DECIMALS)  # (block, signature)
    labels = np.full(len(block), -1, dtype=np.int64)
    ok = ~np.isnan(keys).any(axis=1)
    if ok.any():
        labels[ok] = np.unique(keys[ok], axis=0, return_inverse=True)[1].ravel()
    groups: dict[int, list[int]] = {}
    for position, (i, label) in enumerate(zip(block, labels.tolist(), strict=True)):
        groups.setdefault(label if label >= 0 else -1 - position, []).append(i)
    return list(groups.values())


def _block_sums(matrix: Array, blocks: list[list[int]], axis: int) -> Array:
    """Sum rows (axis 0) or columns (axis 1) of `matrix` within each block."""
    parts = [matrix.take(b, axis=axis).sum(axis=axis, keepdims=True) for b in blocks]
    return np.concatenate(parts, axis=axis)


def symmetry_groups(spec: NetworkSpec, params: Parameters) -> tuple[LayerSymmetry, ...]:
    """Return the symmetry groups of every hidden layer (coarsest stable partition)."""
    sizes = spec.layers
    partitions = [[[i] for i in range(sizes[0])]]
    partitions += [[list(range(s))] for s in sizes[1:-1]]
    partitions += [[[i] for i in range(sizes[-1])]]
    changed = True
    while changed:
        changed = False
        for k in range(1, len(sizes) - 1):  # hidden layer k is fed by transition k − 1
            incoming = _block_sums(params[k - 1].weights, partitions[k - 1], axis=0)
            outgoing = _block_sums(params[k].weights, partitions[k + 1], axis=1)
            refined: list[list[int]] = []
            for block in partitions[k]:
                if len(block) == 1:
                    refined.append(block)  # a neuron alone stays alone
                    continue
                signatures = np.column_stack([params[k - 1].biases[block],
                                              incoming[:, block].T, outgoing[block, :]])
                refined.extend(_split(block, signatures))
            if len(refined) != len(partitions[k]):
                partitions[k] = sorted(refined)
                changed = True
    return tuple(
        LayerSymmetry(
            k, sizes[k], tuple(tuple(b) for b in partitions[k] if len(b) > 1), len(partitions[k])
        )
        for k in range(1, len(sizes) - 1)
    )


# ---------------------------------------------------------------- activity
@dataclass(frozen=True)
class LayerActivity:
    """Saturated and dead units of one layer, over the traced observations."""

    layer: int
    activation: str
    saturated: tuple[int, ...]  # bounded units at a bound on every observation
    saturated_fraction: float  # share of (observation, neuron) cells at a bound
    dead: tuple[int, ...]  # relu units with z ≤ 0 on every observation


def activity(trace: Trace) -> tuple[LayerActivity, ...]:
    """Return saturation (sigmoid, tanh, softmax) and dead ReLUs per layer."""
    layers = []
    for f in trace.forward:
        bounds = ACTIVATIONS[f.activation].bounds
        if bounds is not None:
            span = bounds[1] - bounds[0]
            at_bound = (f.a <= bounds[0] + SATURATION_MARGIN * span) | (
                f.a >= bounds[1] - SATURATION_MARGIN * span
            )
        else:
            at_bound = np.zeros(f.a.shape, dtype=bool)
        saturated = tuple(int(i) for i in np.flatnonzero(at_bound.all(axis=0)))
        dead: tuple[int, ...] = ()
        if f.activation == "relu":
            dead = tuple(int(i) for i in np.flatnonzero((f.z <= 0).all(axis=0)))
        layers.append(LayerActivity(f.layer, f.activation, saturated,
                                    float(at_bound.mean()), dead))
    return tuple(layers)


@dataclass(frozen=True)
class LayerGradient:
    """Gradient size and update size of the parameters feeding one layer."""

    layer: int
    gradient_norm: float  # ‖∂loss/∂W‖ (Frobenius), weights only
    bias_gradient_norm: float
    weight_norm: float
    update_ratio: float  # ‖ΔW‖ / ‖W‖ (0 when W = 0)


def gradient_norms(trace: Trace) -> tuple[LayerGradient, ...]:
    """Return per-layer gradient norms and update/weight ratios, layer 1 first."""
    out = []
    with np.errstate(all="ignore"):  # huge weights give inf norms, reported as such
        for u in trace.update:
            b = trace.backward_for(u.transition + 1)
            w_norm = float(np.linalg.norm(u.old.weights))
            step_norm = float(np.linalg.norm(u.step.weights))
            out.append(LayerGradient(
                u.transition + 1, float(np.linalg.norm(b.grad_weights)),
                float(np.linalg.norm(b.grad_biases)), w_norm,
                step_norm / w_norm if w_norm > 0 else 0.0,
            ))
    return tuple(out)


# ---------------------------------------------------------------- divergence
@dataclass(frozen=True)
class NonFinite:
    """Where the first non-finite value is: a layer (or transition) and a quantity."""

    layer: int  # 1 … L (the loss counts as layer L's)
    quantity: str  # weights, biases, z, a, loss, delta, grad_weights, grad_biases, update


def find_nonfinite(trace: Trace) -> NonFinite | None:
    """Return the first NaN/±Inf in computation order, or None when all is finite."""
    def bad(arr: Array) -> bool:
        return not bool(np.isfinite(arr).all())

    for u in trace.update:
        for name in ("weights", "biases"):
            if bad(getattr(u.old, name)):
                return NonFinite(u.transition + 1, name)
    for f in trace.forward:
        for name in ("z", "a"):
            if bad(getattr(f, name)):
                return NonFinite(f.layer, name)
    if not np.isfinite(trace.loss):
        return NonFinite(len(trace.forward), "loss")  # the loss is computed from layer L
    for b in trace.backward:
        for name in ("dloss_da", "delta", "grad_weights", "grad_biases"):
            if bad(getattr(b, name)):
                return NonFinite(b.layer, name)
    for u in trace.update:
        if bad(u.new.weights) or bad(u.new.biases):
            return NonFinite(u.transition + 1, "update")
    return None
