"""The step trace: every intermediate matrix of one forward pass, backward pass and update.

This is the readable path, in the spirit of Nielsen's `backprop` (record `activations`
and `zs` layer by layer): it allocates freely and keeps everything. The fast path in
`train.py` computes the same numbers without keeping them, and a test holds the two equal.

Numbering follows DESIGN.md: `layer` is 1…L, the layer being fed; the parameters feeding
layer l are transition l − 1 (`weights[l-1]`). Backward entries run from L down to 1.
Computing a trace never changes the parameters, the optimiser state or any generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .activations import ACTIVATIONS
from .losses import LOSSES
from .optimizers import (
    OPTIMIZERS,
    REGULARIZERS,
    OptimizerState,
    fit_state,
    penalty,
    prepare,
)
from .params import Parameters, Transition, flat
from .spec import NetworkSpec

Array = NDArray[np.float64]
Rows = NDArray[np.intp]
PASS_CELLS = 1_000_000
"""Observations × neurons a forward pass over many rows holds at once (8 MB a matrix): a
loss or the outputs of 10,000 rows of a wide network go through in chunks of rows, so
memory stays bounded; a smaller pass is one chunk, computed exactly as before."""


def with_ones(matrix: Array) -> Array:
    """Return the origin's augmented activation: a leading column of ones."""
    return np.hstack([np.ones((matrix.shape[0], 1)), matrix])  # (observations, 1 + neurons)


@dataclass(frozen=True)
class ForwardLayer:
    """Layer l of the forward pass: a^l = f(z^l), z^l = a^(l−1)·W + b."""

    layer: int
    activation: str
    input: Array  # (observations, fan_in): a^(l−1)
    z: Array  # (observations, fan_out): the origin's n^l
    a: Array  # (observations, fan_out)

    def augmented_input(self) -> Array:
        """Return a^(l−1) with its column of ones, as the origin multiplied it."""
        return with_ones(self.input)


@dataclass(frozen=True)
class BackwardLayer:
    """Layer l of the backward pass, the chain rule of the origin with numbers in it."""

    layer: int
    dloss_da: Array  # (observations, fan_out): ∂loss/∂a^l
    da_dz: Array | None  # (observations, fan_out): ∂a^l/∂z^l; None for softmax (not elementwise)
    delta: Array  # (observations, fan_out): ∂loss/∂z^l
    combined: str | None  # the formula when δ comes straight from loss + activation
    grad_weights: Array  # (fan_in, fan_out): a^(l−1)ᵀ·δ
    grad_biases: Array  # (fan_out,): Σ over observations of δ
    dloss_da_below: Array  # (observations, fan_in): δ·Wᵀ, passed to layer l − 1

    def augmented_gradient(self) -> Array:
        """Return the gradient as the origin's table: bias row on top."""
        return np.vstack([self.grad_biases[None, :], self.grad_weights])  # (1 + fan_in, fan_out)


@dataclass(frozen=True)
class UpdateLayer:
    """The optimiser's step on one transition: new = old + step."""

    transition: int
    old: Transition
    gradient: Transition  # what the optimiser received (loss gradient + penalty gradient)
    penalty_gradient: Array  # (fan_in, fan_out): the penalty's share of gradient.weights
    step: Transition
    new: Transition


@dataclass(frozen=True)
class Trace:
    """One training step, every matrix of it."""

    rows: Rows | None  # indices of the observations used; None = all
    forward: tuple[ForwardLayer, ...]  # layers 1…L
    loss: float
    loss_per_observation: Array  # (observations,): contributions that sum to `loss`
    penalty: float  # the regularisation term, shown apart from the loss
    backward: tuple[BackwardLayer, ...]  # layers L…1
    update: tuple[UpdateLayer, ...]  # transitions 0…L−1
    state_before: OptimizerState
    state_after: OptimizerState
    batch: int | None = None  # the step's observations when `rows` holds only some of them

    @property
    def sampled(self) -> bool:
        """Return True when the trace holds only some of its step's observations."""
        return self.batch is not None

    @property
    def new_parameters(self) -> Parameters:
        """Return the parameters after the update."""
        return tuple(u.new for u in self.update)

    def backward_for(self, layer: int) -> BackwardLayer:
        """Return the backward entry of layer 1…L."""
        return self.backward[len(self.backward) - layer]


def forward(spec: NetworkSpec, params: Parameters, inputs: Array) -> tuple[ForwardLayer, ...]:
    """Run the forward pass and keep every z and a."""
    layers = []
    a = inputs
    for l, (t, name) in enumerate(zip(params, spec.transition_activations, strict=True), 1):
        z = a @ t.weights + t.biases  # (observations, fan_out)
        out = ACTIVATIONS[name].forward(z, np.empty_like(z))
        layers.append(ForwardLayer(l, name, a, z, out))
        a = out
    return tuple(layers)


def backward(
    spec: NetworkSpec, params: Parameters, fwd: tuple[ForwardLayer, ...], targets: Array
) -> tuple[BackwardLayer, ...]:
    """Run backpropagation from the output layer down, keeping every intermediate."""
    loss = LOSSES[spec.loss]
    out = fwd[-1]
    g = loss.dloss_da(out.a, targets)  # (observations, outputs)
    entries = []
    for l in range(len(fwd), 0, -1):
        f = fwd[l - 1]
        act = ACTIVATIONS[f.activation]
        da_dz = act.derivative(f.z, f.a) if act.derivative is not None else None
        combined = None
        if l == len(fwd) and loss.combined_delta is not None:
            delta = loss.combined_delta(f.a, targets)
            combined = loss.combined_formula
        else:
            delta = act.backward(f.z, f.a, g, np.empty_like(g))
        w = params[l - 1].weights
        below = delta @ w.T  # (observations, fan_in)
        entries.append(
            BackwardLayer(l, g, da_dz, delta, combined, f.input.T @ delta, delta.sum(axis=0),
                          below)
        )
        g = below
    return tuple(entries)


def update(
    spec: NetworkSpec,
    params: Parameters,
    bwd: tuple[BackwardLayer, ...],
    state: OptimizerState,
) -> tuple[tuple[UpdateLayer, ...], OptimizerState]:
    """Apply the optimiser to a copy of the state; return the update trace and new state."""
    opt = spec.optimizer
    hyper = prepare(opt)
    reg = REGULARIZERS[spec.regularization.kind]
    step_fn = OPTIMIZERS[opt.name].step
    after = fit_state(opt, state, flat(params)).copy()  # state of another optimiser: zeros
    layers = []
    for l, t in enumerate(params):
        b = bwd[len(bwd) - 1 - l]
        pen = reg.gradient(spec.regularization.rate, t.weights)
        g_w = b.grad_weights + pen
        g_b = b.grad_biases.copy()
        s_w = step_fn(hyper, after, 2 * l, g_w, np.empty_like(g_w))
        s_b = step_fn(hyper, after, 2 * l + 1, g_b, np.empty_like(g_b))
        layers.append(
            UpdateLayer(l, t.copy(), Transition(g_w, g_b), pen, Transition(s_w, s_b),
                        Transition(t.weights + s_w, t.biases + s_b))
        )
    after.t += 1
    return tuple(layers), after


def trace(
    spec: NetworkSpec,
    params: Parameters,
    inputs: Array,
    targets: Array,
    state: OptimizerState,
    rows: Rows | None = None,
) -> Trace:
    """Compute one full step on the given rows (all by default) without changing anything."""
    x = inputs if rows is None else inputs[rows]
    y = targets if rows is None else targets[rows]
    # Overflow is not an error here: diagnostics.find_nonfinite reports where it happened.
    with np.errstate(all="ignore"):
        fwd = forward(spec, params, x)
        loss = LOSSES[spec.loss]
        per_obs = loss.per_observation(fwd[-1].z, fwd[-1].a, y)  # (observations,)
        bwd = backward(spec, params, fwd, y)
        upd, after = update(spec, params, bwd, state)
        pen = penalty(spec.regularization, [t.weights for t in params])
    return Trace(rows, fwd, float(per_obs.sum()), per_obs, pen, bwd, upd, state.copy(), after)


def outputs(spec: NetworkSpec, params: Parameters, inputs: Array) -> tuple[Array, Array]:
    """Return the output layer's z and a for the inputs, `PASS_CELLS` at a time."""
    step = max(1, PASS_CELLS // sum(spec.layers))  # rows per chunk
    with np.errstate(over="ignore"):
        if inputs.shape[0] <= step:
            last = forward(spec, params, inputs)[-1]
            return last.z, last.a  # (observations, outputs) each
        parts = [forward(spec, params, inputs[i : i + step])[-1]
                 for i in range(0, inputs.shape[0], step)]
        return np.vstack([p.z for p in parts]), np.vstack([p.a for p in parts])


def evaluate(spec: NetworkSpec, params: Parameters, inputs: Array, targets: Array) -> float:
    """Return the loss over the given data (no penalty)."""
    z, a = outputs(spec, params, inputs)
    with np.errstate(over="ignore"):
        return LOSSES[spec.loss].value(z, a, targets)


def predict(spec: NetworkSpec, params: Parameters, inputs: Array) -> Array:
    """Return the network's outputs for the inputs."""
    return outputs(spec, params, inputs)[1]  # (observations, outputs)


