"""Diagnostics: symmetry groups, gradient check, saturation, dead units, divergence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine import examples
from app.engine.diagnostics import (
    activity,
    find_nonfinite,
    gradient_check,
    gradient_norms,
    symmetry_groups,
)
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import Transition, flat
from app.engine.spec import InitSpec, NetworkSpec, OptimizerSpec, validate
from app.engine.trace import predict, trace
from app.engine.train import Progress, Trainer


def _train(spec: NetworkSpec, params, inputs, targets, iterations):  # type: ignore[no-untyped-def]
    state = new_state(spec.optimizer, flat(params))
    return Trainer(spec, inputs, targets).run(params, state, Progress(), iterations)


def test_origin_has_one_group_of_three_in_each_hidden_layer() -> None:
    ex = examples.build("origin")
    layers = symmetry_groups(ex.spec, ex.parameters)
    assert [(s.layer, s.groups, s.effective_width) for s in layers] == [
        (1, ((0, 1, 2),), 1),
        (2, ((0, 1, 2),), 1),
    ]


def test_origin_symmetry_message_names_layer_neurons_and_width() -> None:
    ex = examples.build("origin")
    first = symmetry_groups(ex.spec, ex.parameters)[0]
    assert first.message == (
        "Hidden layer 1: neurons 0, 1, 2 are identical — they get identical gradients "
        "and will never differ. Effective width 1 of 3."
    )


def test_origin_is_still_symmetric_after_1000_steps() -> None:
    ex = examples.build("origin")
    result = _train(ex.spec, ex.parameters, ex.inputs, ex.targets, 1000)
    groups = [s.groups for s in symmetry_groups(ex.spec, result.parameters)]
    assert groups == [((0, 1, 2),), ((0, 1, 2),)]


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_xavier_uniform_has_no_symmetry_groups(seed: int) -> None:
    ex = examples.build("origin")
    spec = ex.spec.with_changes(init=InitSpec("xavier_uniform", seed=seed))
    assert all(not s.groups for s in symmetry_groups(spec, initialize(spec)))


def test_xavier_seed_0_reaches_the_targets_within_001_after_10000_steps() -> None:
    ex = examples.build("origin")
    spec = ex.spec.with_changes(init=InitSpec("xavier_uniform", seed=0))
    result = _train(spec, initialize(spec), ex.inputs, ex.targets, 10_000)
    np.testing.assert_allclose(predict(spec, result.parameters, ex.inputs), ex.targets, atol=0.01)


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 42, 1234])
def test_xavier_any_seed_reaches_the_targets_within_002(seed: int) -> None:
    ex = examples.build("origin")
    spec = ex.spec.with_changes(init=InitSpec("xavier_uniform", seed=seed))
    result = _train(spec, initialize(spec), ex.inputs, ex.targets, 10_000)
    np.testing.assert_allclose(predict(spec, result.parameters, ex.inputs), ex.targets, atol=0.02)


def test_partial_symmetry_finds_only_the_equal_pair() -> None:
    spec = validate(NetworkSpec((2, 3, 1), init=InitSpec("constant", value=0.5)))
    w0 = np.array([[0.1, 0.1, 0.7], [0.2, 0.2, -0.3]])
    w1 = np.array([[0.5], [0.5], [0.9]])
    params = (Transition(w0, np.zeros(3)), Transition(w1, np.zeros(1)))
    (layer,) = symmetry_groups(spec, params)
    assert layer.groups == ((0, 1),)
    assert layer.effective_width == 2


def test_neurons_fed_by_symmetric_neurons_are_symmetric_too() -> None:
    # Layer 2's neurons take their weight from different copies of one layer-1 neuron:
    # they compute the same value, so they are interchangeable as well.
    spec = validate(NetworkSpec((1, 2, 2, 1)))
    params = (
        Transition(np.array([[0.3, 0.3]]), np.array([0.1, 0.1])),
        Transition(np.array([[0.8, 0.2], [0.2, 0.8]]), np.zeros(2)),
        Transition(np.array([[0.4], [0.4]]), np.zeros(1)),
    )
    layers = symmetry_groups(spec, params)
    assert [s.groups for s in layers] == [((0, 1),), ((0, 1),)]


def test_different_outgoing_weights_break_symmetry() -> None:
    spec = validate(NetworkSpec((2, 2, 1)))
    params = (Transition(np.ones((2, 2)), np.ones(2)),
              Transition(np.array([[1.0], [2.0]]), np.zeros(1)))
    assert symmetry_groups(spec, params)[0].groups == ()


def _random_case(seed: int, activation: str):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    spec = validate(NetworkSpec((3, 4, 3, 2), hidden_activation=activation,
                                output_activation="sigmoid", loss="binary_cross_entropy",
                                init=InitSpec("xavier_normal", seed=seed)))
    inputs = rng.normal(size=(5, 3))  # (observations, inputs)
    targets = rng.uniform(size=(5, 2))  # (observations, outputs)
    params = initialize(spec)
    return spec, params, inputs, targets, trace(spec, params, inputs, targets,
                                                new_state(spec.optimizer, flat(params)))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "linear"])
def test_gradient_check_agrees_to_1e6(activation: str) -> None:
    spec, params, x, y, tr = _random_case(3, activation)
    check = gradient_check(spec, params, x, y, tr)
    assert check.checked == check.total == spec.parameter_count()
    assert check.max_relative_error < 1e-6


def test_gradient_check_catches_a_wrong_gradient() -> None:
    spec, params, x, y, tr = _random_case(4, "tanh")
    tr.backward_for(2).grad_weights[0, 0] += 0.1  # corrupt one analytic derivative
    check = gradient_check(spec, params, x, y, tr)
    worst = max(check.entries, key=lambda e: e.relative_error)
    assert (worst.transition, worst.kind, worst.index) == (1, "weights", (0, 0))
    assert check.max_relative_error > 1e-3


def test_gradient_check_samples_large_networks() -> None:
    spec, params, x, y, tr = _random_case(5, "tanh")
    check = gradient_check(spec, params, x, y, tr, max_parameters=10)
    assert check.checked == 10
    assert check.total == spec.parameter_count()


def test_saturated_sigmoid_units_are_reported() -> None:
    spec = validate(NetworkSpec((1, 2, 1), output_activation="linear"))
    params = (Transition(np.array([[50.0, 0.1]]), np.zeros(2)),
              Transition(np.ones((2, 1)), np.zeros(1)))
    x = np.array([[1.0], [2.0]])
    tr = trace(spec, params, x, np.zeros((2, 1)), new_state(spec.optimizer, flat(params)))
    hidden = activity(tr)[0]
    assert hidden.saturated == (0,)
    assert hidden.saturated_fraction == 0.5


def test_dead_relus_are_reported() -> None:
    spec = validate(NetworkSpec((1, 3, 1), hidden_activation="relu",
                                output_activation="linear"))
    params = (Transition(np.array([[1.0, -1.0, 1.0]]), np.array([0.0, 0.0, -10.0])),
              Transition(np.ones((3, 1)), np.zeros(1)))
    x = np.array([[1.0], [2.0]])
    tr = trace(spec, params, x, np.zeros((2, 1)), new_state(spec.optimizer, flat(params)))
    assert activity(tr)[0].dead == (1, 2)


def test_gradient_norms_match_the_trace() -> None:
    _, _, _, _, tr = _random_case(6, "tanh")
    norms = gradient_norms(tr)
    assert [g.layer for g in norms] == [1, 2, 3]
    for g in norms:
        b = tr.backward_for(g.layer)
        u = tr.update[g.layer - 1]
        assert g.gradient_norm == pytest.approx(np.sqrt((b.grad_weights**2).sum()))
        assert g.update_ratio == pytest.approx(
            np.linalg.norm(u.step.weights) / np.linalg.norm(u.old.weights))


def test_find_nonfinite_is_none_for_a_healthy_step() -> None:
    *_, tr = _random_case(7, "sigmoid")
    assert find_nonfinite(tr) is None


def test_find_nonfinite_names_the_first_layer_that_overflows() -> None:
    spec = validate(NetworkSpec((1, 1, 1), hidden_activation="linear",
                                output_activation="linear",
                                optimizer=OptimizerSpec("sgd", 0.1)))
    params = (Transition(np.array([[1e200]]), np.zeros(1)),
              Transition(np.array([[1e200]]), np.zeros(1)))
    x = np.array([[1e200]])
    tr = trace(spec, params, x, np.zeros((1, 1)), new_state(spec.optimizer, flat(params)))
    where = find_nonfinite(tr)
    assert where is not None
    assert (where.layer, where.quantity) == (1, "z")


def test_training_that_diverges_stops_at_finite_parameters() -> None:
    spec = validate(NetworkSpec((1, 1), output_activation="linear",
                                optimizer=OptimizerSpec("sgd", 10.0)))
    params = (Transition(np.array([[1.0]]), np.zeros(1)),)
    x, y = np.array([[3.0], [4.0]]), np.array([[1.0], [2.0]])
    result = _train(spec, params, x, y, 10_000)
    assert result.diverged_at is not None
    assert result.diverged_at == result.progress.step + 1
    assert all(np.isfinite(a).all() for a in flat(result.parameters))
    last = trace(spec, result.parameters, x, y, result.state)
    assert find_nonfinite(last) is not None
