"""Backprop's numbers against independent references: HIPS autograd and finite differences.

Hypothesis draws the shapes, the data seed and the kind of targets; every hidden activation
is paired with every output activation and every loss that fits it. The reference network
(tests/engine/conftest.py) is written from DESIGN.md's formulas, not from app.engine.
ReLU kinks are avoided: a draw with some |z| ≤ 1e-6 at a relu/leaky_relu layer is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from autograd import elementwise_grad, grad
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.engine.examples import Example
from app.engine.params import Transition, flat
from app.engine.trace import Trace, evaluate, trace

if TYPE_CHECKING:  # fixtures' types; conftest is never imported by test modules
    from conftest import Problem, Reference

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
OUTPUTS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax")
OUTPUT_LOSSES = [(o, loss) for o in OUTPUTS for loss in ("sse", "mse")] + [
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
]
CASES = [(h, o, loss) for h in HIDDEN for o, loss in OUTPUT_LOSSES]
KINKED = ("relu", "leaky_relu")
RTOL, ATOL = 1e-10, 1e-12  # engine vs autograd

LAYERS = st.tuples(
    st.integers(1, 6),  # inputs
    st.lists(st.integers(1, 6), min_size=1, max_size=4),  # 1–4 hidden layers
    st.integers(1, 6),  # outputs
).map(lambda t: (t[0], *t[1], t[2]))
OBSERVATIONS = st.integers(1, 8)
SEEDS = st.integers(0, 2**32 - 1)
TARGET_KINDS = ("one_hot", "probability", "unnormalised")  # cross-entropy target rows
TARGETS = st.sampled_from(TARGET_KINDS)
FAST = settings(max_examples=40, deadline=None, database=None)
BROAD = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _trace(problem: Problem) -> Trace:
    return trace(
        problem.spec, problem.parameters, problem.inputs, problem.targets, problem.new_state()
    )


def _away_from_kinks(problem: Problem, reference: Reference, margin: float = 1e-6) -> bool:
    """Return True when no relu/leaky_relu pre-activation is within `margin` of 0."""
    layers = reference.forward(problem.names, flat(problem.parameters), problem.inputs)
    return all(
        np.abs(z).min() > margin
        for name, (z, _) in zip(problem.names, layers, strict=True)
        if name in KINKED
    )


def _draw(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: Sequence[int],
    observations: int,
    seed: int,
    target_kind: str,
) -> Problem:
    hidden, output, loss = case
    problem = make_problem(layers, hidden, output, loss, observations, seed, target_kind)
    assume(_away_from_kinks(problem, reference))
    return problem


def _autograd_gradient(problem: Problem, reference: Reference) -> list[Any]:
    def loss(arrays: list[Any]) -> Any:
        return reference.loss(
            problem.names, problem.spec.loss, arrays, problem.inputs, problem.targets
        )

    return list(grad(loss)(list(flat(problem.parameters))))


@pytest.mark.parametrize(("hidden", "output", "loss"), CASES)
@FAST
@given(layers=LAYERS, observations=OBSERVATIONS, seed=SEEDS, target_kind=TARGETS)
def test_weight_and_bias_gradients_equal_autograd(
    make_problem: Callable[..., Problem],
    reference: Reference,
    hidden: str,
    output: str,
    loss: str,
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(
        make_problem, reference, (hidden, output, loss), layers, observations, seed, target_kind
    )
    expected = _autograd_gradient(problem, reference)
    backward = _trace(problem).backward
    assert len(backward) == len(layers) - 1
    for entry in backward:
        l = entry.layer - 1  # the transition feeding this layer
        np.testing.assert_allclose(entry.grad_weights, expected[2 * l], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(entry.grad_biases, expected[2 * l + 1], rtol=RTOL, atol=ATOL)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_backward_covers_every_layer_from_the_output_down(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    t = _trace(problem)
    assert [b.layer for b in t.backward] == list(range(len(layers) - 1, 0, -1))


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_output_delta_equals_autograd_gradient_of_loss_in_z(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    z = reference.forward(problem.names, flat(problem.parameters), problem.inputs)[-1][0]
    act, loss = reference.activations[problem.names[-1]], reference.losses[problem.spec.loss]
    expected = grad(lambda zz: loss(act(zz), problem.targets))(z)
    np.testing.assert_allclose(_trace(problem).backward[0].delta, expected, rtol=RTOL, atol=ATOL)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_output_dloss_da_equals_autograd_gradient_of_loss_in_a(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    a = reference.forward(problem.names, flat(problem.parameters), problem.inputs)[-1][1]
    expected = grad(lambda aa: reference.losses[problem.spec.loss](aa, problem.targets))(a)
    np.testing.assert_allclose(_trace(problem).backward[0].dloss_da, expected, rtol=RTOL, atol=ATOL)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_da_dz_equals_autograd_derivative_of_each_elementwise_activation(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    t = _trace(problem)
    for f, b in zip(t.forward, reversed(t.backward), strict=True):
        if f.activation == "softmax":
            continue
        expected = elementwise_grad(reference.activations[f.activation])(f.z)
        np.testing.assert_allclose(b.da_dz, expected, rtol=RTOL, atol=ATOL)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_delta_is_dloss_da_times_da_dz_without_a_combined_formula(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    checked = [b for b in _trace(problem).backward if b.combined is None and b.da_dz is not None]
    assert checked  # every hidden layer is elementwise and never combined
    for b in checked:
        np.testing.assert_allclose(b.delta, b.dloss_da * b.da_dz, rtol=1e-14, atol=0)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_dloss_da_below_is_delta_times_weights_transposed(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    for b in _trace(problem).backward:
        w = problem.parameters[b.layer - 1].weights
        np.testing.assert_allclose(b.dloss_da_below, b.delta @ w.T, rtol=1e-14, atol=0)


@BROAD
@given(
    case=st.sampled_from(CASES),
    layers=LAYERS,
    observations=OBSERVATIONS,
    seed=SEEDS,
    target_kind=TARGETS,
)
def test_each_layer_receives_the_gradient_passed_down_from_above(
    make_problem: Callable[..., Problem],
    reference: Reference,
    case: tuple[str, str, str],
    layers: tuple[int, ...],
    observations: int,
    seed: int,
    target_kind: str,
) -> None:
    problem = _draw(make_problem, reference, case, layers, observations, seed, target_kind)
    backward = _trace(problem).backward
    for above, below in pairwise(backward):
        np.testing.assert_array_equal(below.dloss_da, above.dloss_da_below)


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
def test_cross_entropy_delta_uses_the_combined_formula(
    make_problem: Callable[..., Problem], target_kind: str
) -> None:
    problem = make_problem((2, 3, 4), "tanh", "softmax", "cross_entropy", 5, 3, target_kind)
    output = _trace(problem).backward[0]
    assert output.combined is not None
    assert output.da_dz is None


# ---------------------------------------------------------------- finite differences
FD_EPSILON = 1e-6


def _central_differences(problem: Problem) -> list[np.ndarray]:
    """Return (L(θ + ε) − L(θ − ε)) / 2ε for every weight and bias, in flat order."""
    arrays = [a.copy() for a in flat(problem.parameters)]
    # Transitions hold their arrays by reference: nudging a cell nudges the network.
    params = tuple(
        Transition(arrays[2 * l], arrays[2 * l + 1]) for l in range(len(problem.parameters))
    )
    numeric = []
    for live in arrays:
        estimate = np.empty_like(live)
        for index in np.ndindex(live.shape):
            original = live[index]
            live[index] = original + FD_EPSILON
            up = evaluate(problem.spec, params, problem.inputs, problem.targets)
            live[index] = original - FD_EPSILON
            down = evaluate(problem.spec, params, problem.inputs, problem.targets)
            live[index] = original
            estimate[index] = (up - down) / (2 * FD_EPSILON)
        numeric.append(estimate)
    return numeric


def _analytic(t: Trace) -> list[np.ndarray]:
    """Return the trace's gradients in flat order [W0, b0, W1, b1, …]."""
    return [a for b in reversed(t.backward) for a in (b.grad_weights, b.grad_biases)]


FD_CASES = [
    ((3, 4, 3, 2), "tanh", "softmax", "cross_entropy", 11),
    ((2, 5, 3), "leaky_relu", "linear", "mse", 12),
    ((3, 4, 4, 2), "relu", "sigmoid", "binary_cross_entropy", 13),
    ((2, 3, 3), "sigmoid", "softmax", "sse", 14),
    ((4, 3, 2, 3, 2), ("relu", "tanh", "linear"), "tanh", "sse", 15),
]


@pytest.mark.parametrize(("layers", "hidden", "output", "loss", "seed"), FD_CASES)
def test_gradient_equals_central_finite_differences(
    make_problem: Callable[..., Problem],
    reference: Reference,
    layers: tuple[int, ...],
    hidden: str | tuple[str, ...],
    output: str,
    loss: str,
    seed: int,
) -> None:
    problem = make_problem(layers, hidden, output, loss, 6, seed)
    assert _away_from_kinks(problem, reference, margin=1e-3), "pick a seed away from kinks"
    numeric = _central_differences(problem)
    for got, expected in zip(_analytic(_trace(problem)), numeric, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["origin", "xor"])
def test_example_gradients_equal_central_finite_differences(
    request: pytest.FixtureRequest, example_problem: Callable[[Example], Problem], name: str
) -> None:
    problem = example_problem(request.getfixturevalue(name))
    numeric = _central_differences(problem)
    for got, expected in zip(_analytic(_trace(problem)), numeric, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
