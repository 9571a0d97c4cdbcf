"""Optimisers and weight penalties against their textbook formulas, written out here.

The engine's own gradients drive both sides: each step, the trace reports what the optimiser
received (`update[l].gradient`, penalty included) and the textbook update below — plain
NumPy, its own state, independent of app/engine/optimizers.py — must land on the trace's
new parameters. Penalties are checked against rate·½ΣW² and rate·Σ|W| directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest

from app.engine.optimizers import OptimizerState
from app.engine.params import Transition, flat
from app.engine.spec import OptimizerSpec, RegularizationSpec
from app.engine.trace import Trace, trace
from app.engine.train import Progress, Trainer

if TYPE_CHECKING:  # fixtures' types; conftest is never imported by test modules
    from conftest import Problem

Array = np.ndarray
STEPS = 20

# Hyper-parameters away from the defaults, so a swapped or ignored one shows.
OPTIMIZERS = {
    "sgd": OptimizerSpec(name="sgd", learning_rate=0.3),
    "momentum": OptimizerSpec(name="momentum", learning_rate=0.05, momentum=0.7),
    "nesterov": OptimizerSpec(name="momentum", learning_rate=0.05, momentum=0.7, nesterov=True),
    "rmsprop": OptimizerSpec(name="rmsprop", learning_rate=0.01, rho=0.8, epsilon=1e-4),
    "adam": OptimizerSpec(name="adam", learning_rate=0.02, beta1=0.8, beta2=0.95, epsilon=1e-4),
}


# ---------------------------------------------------------------- textbook optimisers
class Textbook:
    """One optimiser from its textbook definition: `deltas` maps gradients to steps."""

    def __init__(self, opt: OptimizerSpec) -> None:
        self.opt = opt
        self.t = 0
        self.first: list[Array] | None = None  # velocity, or Adam's m
        self.second: list[Array] | None = None  # RMSProp's s, or Adam's v

    def deltas(self, grads: list[Array]) -> list[Array]:
        """Return Δ for each parameter array, updating the state."""
        if self.first is None or self.second is None:
            self.first = [np.zeros_like(g) for g in grads]
            self.second = [np.zeros_like(g) for g in grads]
        self.t += 1
        return [self._delta(i, g) for i, g in enumerate(grads)]

    def _delta(self, i: int, g: Array) -> Array:
        assert self.first is not None
        assert self.second is not None
        o = self.opt
        lr = o.learning_rate
        if o.name == "sgd":  # W ← W − lr·g
            return -lr * g
        if o.name == "momentum":  # v ← μv − lr·g; classical: Δ = v; Nesterov: Δ = μv − lr·g
            self.first[i] = o.momentum * self.first[i] - lr * g
            return o.momentum * self.first[i] - lr * g if o.nesterov else self.first[i]
        if o.name == "rmsprop":  # s ← ρs + (1−ρ)g²; Δ = −lr·g / (√s + ε)
            self.second[i] = o.rho * self.second[i] + (1 - o.rho) * g**2
            return -lr * g / (np.sqrt(self.second[i]) + o.epsilon)
        # Adam (Kingma & Ba 2015, Algorithm 1)
        self.first[i] = o.beta1 * self.first[i] + (1 - o.beta1) * g
        self.second[i] = o.beta2 * self.second[i] + (1 - o.beta2) * g**2
        m_hat = self.first[i] / (1 - o.beta1**self.t)
        v_hat = self.second[i] / (1 - o.beta2**self.t)
        return -lr * m_hat / (np.sqrt(v_hat) + o.epsilon)


def _received(t: Trace) -> list[Array]:
    """Return what the optimiser received, in flat order [W0, b0, W1, b1, …]."""
    return [a for u in t.update for a in (u.gradient.weights, u.gradient.biases)]


def _steps(t: Trace) -> list[Array]:
    return [a for u in t.update for a in (u.step.weights, u.step.biases)]


def _all_close(got: list[Array], expected: list[Array], rtol: float, atol: float) -> bool:
    return all(np.allclose(g, e, rtol=rtol, atol=atol) for g, e in zip(got, expected, strict=True))


def _all_equal(got: list[Array], expected: list[Array]) -> bool:
    return all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


@pytest.fixture(params=list(OPTIMIZERS))
def optimizer(request: pytest.FixtureRequest) -> OptimizerSpec:
    """Each optimiser with non-default hyper-parameters."""
    return OPTIMIZERS[request.param]


@pytest.mark.parametrize("regularization", ["none", "l2"])
def test_every_step_is_the_textbook_update(
    small_problem: Problem, optimizer: OptimizerSpec, regularization: str
) -> None:
    reg = RegularizationSpec(regularization, 0.05 if regularization == "l2" else 0.0)
    spec = small_problem.spec.with_changes(optimizer=optimizer, regularization=reg)
    params, state = small_problem.parameters, small_problem.new_state(spec)
    book = Textbook(optimizer)
    for step in range(STEPS):
        t = trace(spec, params, small_problem.inputs, small_problem.targets, state)
        deltas = book.deltas(_received(t))
        expected = [p + d for p, d in zip(flat(params), deltas, strict=True)]
        assert _all_close(_steps(t), deltas, rtol=1e-12, atol=1e-15), f"step {step}: Δ"
        assert _all_close(flat(t.new_parameters), expected, rtol=1e-12, atol=1e-12), step
        params, state = t.new_parameters, t.state_after


def test_update_count_advances_once_per_step(
    small_problem: Problem, optimizer: OptimizerSpec
) -> None:
    spec = small_problem.spec.with_changes(optimizer=optimizer)
    params, state = small_problem.parameters, small_problem.new_state(spec)
    for _ in range(3):
        t = trace(spec, params, small_problem.inputs, small_problem.targets, state)
        params, state = t.new_parameters, t.state_after
    assert state.t == 3


def test_trace_leaves_the_given_state_and_parameters_untouched(
    small_problem: Problem, optimizer: OptimizerSpec
) -> None:
    spec = small_problem.spec.with_changes(optimizer=optimizer)
    state = small_problem.new_state(spec)
    params = small_problem.parameters
    t = trace(spec, params, small_problem.inputs, small_problem.targets, state)
    t = trace(spec, t.new_parameters, small_problem.inputs, small_problem.targets, t.state_after)
    before = json.dumps(t.state_after.to_dict())
    weights_before = [a.copy() for a in flat(t.new_parameters)]
    trace(spec, t.new_parameters, small_problem.inputs, small_problem.targets, t.state_after)
    assert json.dumps(t.state_after.to_dict()) == before
    assert _all_equal(flat(t.new_parameters), weights_before)


# ---------------------------------------------------------------- weight penalties
RATE = 0.07
PENALTY_GRADIENTS: dict[str, Callable[[Array], Array]] = {
    "l2": lambda w: RATE * w,  # ∂(rate·½ΣW²)/∂W
    "l1": lambda w: RATE * np.sign(w),  # ∂(rate·Σ|W|)/∂W, 0 at W = 0
}
PENALTIES: dict[str, Callable[[Array], float]] = {
    "l2": lambda w: RATE * 0.5 * float(np.sum(w**2)),
    "l1": lambda w: RATE * float(np.sum(np.abs(w))),
}


def _with_penalty(problem: Problem, kind: str) -> tuple[Trace, Trace]:
    """Return the traces of one step without and with the penalty, from the same point."""
    weights = problem.parameters[0].weights.copy()
    weights[0, 0] = 0.0  # sign(0) = 0: an L1 subgradient of 0 there
    params = (
        Transition(weights, problem.parameters[0].biases + 3.0),  # large biases: unpenalised
        *problem.parameters[1:],
    )
    plain = trace(problem.spec, params, problem.inputs, problem.targets, problem.new_state())
    spec = problem.spec.with_changes(regularization=RegularizationSpec(kind, RATE))
    return plain, trace(spec, params, problem.inputs, problem.targets, problem.new_state(spec))


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_adds_its_gradient_to_every_weight_gradient(
    small_problem: Problem, kind: str
) -> None:
    plain, penalised = _with_penalty(small_problem, kind)
    for p, q in zip(plain.update, penalised.update, strict=True):
        expected = p.gradient.weights + PENALTY_GRADIENTS[kind](p.old.weights)
        np.testing.assert_allclose(q.gradient.weights, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_gradient_is_reported_apart(small_problem: Problem, kind: str) -> None:
    _, penalised = _with_penalty(small_problem, kind)
    for u in penalised.update:
        np.testing.assert_allclose(
            u.penalty_gradient, PENALTY_GRADIENTS[kind](u.old.weights), rtol=1e-15, atol=0
        )


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_never_touches_the_bias_gradients(small_problem: Problem, kind: str) -> None:
    plain, penalised = _with_penalty(small_problem, kind)
    assert _all_equal(
        [u.gradient.biases for u in penalised.update], [u.gradient.biases for u in plain.update]
    )


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_reported_loss_excludes_the_penalty(small_problem: Problem, kind: str) -> None:
    plain, penalised = _with_penalty(small_problem, kind)
    assert penalised.loss == plain.loss
    assert penalised.penalty > 0


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_value_is_the_formula_over_weights_only(small_problem: Problem, kind: str) -> None:
    _, penalised = _with_penalty(small_problem, kind)
    expected = sum(PENALTIES[kind](u.old.weights) for u in penalised.update)
    assert penalised.penalty == pytest.approx(expected, rel=1e-14)


def test_no_penalty_without_regularization(small_problem: Problem) -> None:
    plain, _ = _with_penalty(small_problem, "l2")
    assert plain.penalty == 0.0
    assert all(not u.penalty_gradient.any() for u in plain.update)


# ---------------------------------------------------------------- saved state
def _state_after(problem: Problem, optimizer: OptimizerSpec, steps: int) -> OptimizerState:
    spec = problem.spec.with_changes(optimizer=optimizer)
    params, state = problem.parameters, problem.new_state(spec)
    for _ in range(steps):
        t = trace(spec, params, problem.inputs, problem.targets, state)
        params, state = t.new_parameters, t.state_after
    return state


def _through_json(state: OptimizerState) -> OptimizerState:
    return OptimizerState.from_dict(json.loads(json.dumps(state.to_dict())))


def test_state_round_trips_through_json_exactly(
    small_problem: Problem, optimizer: OptimizerSpec
) -> None:
    state = _state_after(small_problem, optimizer, 5)
    restored = _through_json(state)
    assert restored.t == state.t
    assert restored.slots.keys() == state.slots.keys()
    for name, arrays in state.slots.items():
        assert [a.dtype for a in restored.slots[name]] == [np.float64] * len(arrays)
        assert _all_equal(restored.slots[name], arrays), name


@pytest.mark.parametrize("batch_size", [None, 3])
def test_training_resumed_from_restored_state_equals_uninterrupted_training(
    small_problem: Problem, optimizer: OptimizerSpec, batch_size: int | None
) -> None:
    spec = small_problem.spec.with_changes(
        optimizer=optimizer,
        batch_size=batch_size,
        regularization=RegularizationSpec("l2", 0.01),
    )
    x, y = small_problem.inputs, small_problem.targets

    whole = Trainer(spec, x, y).run(
        small_problem.parameters, small_problem.new_state(spec), Progress(), 20
    )
    first = Trainer(spec, x, y).run(
        small_problem.parameters, small_problem.new_state(spec), Progress(), 10
    )
    second = Trainer(spec, x, y).run(
        first.parameters, _through_json(first.state), first.progress, 10
    )

    assert second.progress == whole.progress
    assert _all_equal(flat(second.parameters), flat(whole.parameters))
    assert second.state.t == whole.state.t
    for name, arrays in whole.state.slots.items():
        assert _all_equal(second.state.slots[name], arrays), name
