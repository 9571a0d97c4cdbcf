"""Spec and data validation: every error names the field, the problem and the limit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from app.engine.initializers import DESCRIPTIONS, FIELDS, INITIALIZERS, initialize
from app.engine.optimizers import OPTIMIZERS, REGULARIZERS
from app.engine.params import check_data, parameters_equal
from app.engine.spec import (
    INIT_SCHEMES,
    OPTIMIZER_NAMES,
    REGULARIZER_KINDS,
    InitSpec,
    NetworkSpec,
    OptimizerSpec,
    RegularizationSpec,
    SpecError,
    check_registry,
    validate,
)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (NetworkSpec((2,)), "layers"),
        (NetworkSpec((2, 0, 1)), "layers[1]"),
        (NetworkSpec((2, 3, 1), hidden_activation="swish"), "hidden_activation"),
        (NetworkSpec((2, 3, 1), output_activation="nope"), "output_activation"),
        (NetworkSpec((2, 3, 1), activations=("softmax", "sigmoid")), "activations[0]"),
        (NetworkSpec((2, 3, 1), activations=("tanh",)), "activations"),
        (NetworkSpec((2, 1), loss="hinge"), "loss"),
        (NetworkSpec((2, 1), loss="cross_entropy"), "loss"),
        (NetworkSpec((2, 1), output_activation="tanh", loss="binary_cross_entropy"), "loss"),
        (NetworkSpec((2, 1), init=InitSpec("magic")), "init.scheme"),
        (NetworkSpec((2, 1), init=InitSpec("uniform", low=1.0, high=0.0)), "init.high"),
        (NetworkSpec((2, 1), init=InitSpec("normal", std=-1.0)), "init.std"),
        (NetworkSpec((2, 1), init=InitSpec(seed=-1)), "init.seed"),
        (NetworkSpec((2, 1), init=InitSpec(bias=float("nan"))), "init.bias"),
        (NetworkSpec((2, 1), optimizer=OptimizerSpec("lbfgs")), "optimizer.name"),
        (NetworkSpec((2, 1), optimizer=OptimizerSpec(learning_rate=0.0)),
         "optimizer.learning_rate"),
        (NetworkSpec((2, 1), optimizer=OptimizerSpec(beta1=1.0)), "optimizer.beta1"),
        (NetworkSpec((2, 1), regularization=RegularizationSpec("l3")), "regularization.kind"),
        (NetworkSpec((2, 1), regularization=RegularizationSpec("l2", -1.0)),
         "regularization.rate"),
        (NetworkSpec((2, 1), batch_size=0), "batch_size"),
    ],
)
def test_invalid_spec_names_the_field(spec: NetworkSpec, field: str) -> None:
    with pytest.raises(SpecError) as err:
        validate(spec)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("registry", "allowed"),
    [(INITIALIZERS, INIT_SCHEMES), (DESCRIPTIONS, INIT_SCHEMES), (FIELDS, INIT_SCHEMES),
     (OPTIMIZERS, OPTIMIZER_NAMES), (REGULARIZERS, REGULARIZER_KINDS)],
)
def test_each_registry_holds_the_names_the_spec_allows_in_its_order(
        registry: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    assert tuple(registry) == allowed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (NetworkSpec((2, 1), init=InitSpec("magic")),
         "unknown scheme 'magic'; choose one of " + ", ".join(INITIALIZERS)),
        (NetworkSpec((2, 1), optimizer=OptimizerSpec("lbfgs")),
         "unknown optimizer 'lbfgs'; choose one of sgd, momentum, rmsprop, adam"),
        (NetworkSpec((2, 1), regularization=RegularizationSpec("l3")),
         "unknown kind 'l3'; choose one of none, l1, l2"),
    ],
)
def test_an_unknown_name_lists_every_choice(spec: NetworkSpec, message: str) -> None:
    with pytest.raises(SpecError) as err:
        validate(spec)
    assert err.value.message == message


@pytest.mark.parametrize("names", [OPTIMIZER_NAMES[:-1], (*OPTIMIZER_NAMES, "lbfgs"),
                                   OPTIMIZER_NAMES[::-1]])
def test_a_registry_that_differs_from_the_spec_is_refused(names: tuple[str, ...]) -> None:
    with pytest.raises(RuntimeError, match=r"optimizers\.OPTIMIZERS holds"):
        check_registry("optimizers.OPTIMIZERS", names, OPTIMIZER_NAMES)


def test_activations_override_hidden_and_output() -> None:
    spec = NetworkSpec((2, 3, 3, 1), activations=("relu", "tanh", "linear"))
    assert validate(spec).transition_activations == ("relu", "tanh", "linear")


@pytest.mark.parametrize(
    ("inputs", "targets", "field"),
    [
        ([[1.0, 2.0, 3.0]], [[0.0]], "inputs"),
        ([[1.0, 2.0]], [[0.0, 1.0]], "targets"),
        ([[1.0, 2.0], [3.0, 4.0]], [[0.0]], "targets"),
        ([[1.0, float("nan")]], [[0.0]], "inputs[0][1]"),
        ([[1.0, 2.0]], [[float("inf")]], "targets[0][0]"),
        ([[1.0, 2.0], [1.0]], [[0.0], [1.0]], "inputs"),
        ([["a", 2.0]], [[0.0]], "inputs"),
    ],
)
def test_bad_data_names_the_field_or_cell(inputs: object, targets: object, field: str) -> None:
    spec = validate(NetworkSpec((2, 1)))
    with pytest.raises(SpecError) as err:
        check_data(spec, inputs, targets)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bce_targets_outside_0_1_are_refused_with_the_range() -> None:
    spec = validate(NetworkSpec((1, 1), loss="binary_cross_entropy"))
    with pytest.raises(SpecError) as err:
        check_data(spec, [[0.0], [1.0]], [[0.5], [1.5]])
    assert (err.value.field, err.value.limit) == ("targets[1][0]", [0.0, 1.0])


@pytest.mark.parametrize("scheme", sorted(INITIALIZERS))
def test_same_spec_and_seed_give_identical_numbers(scheme: str) -> None:
    spec = validate(NetworkSpec((3, 5, 4, 2), init=InitSpec(scheme, seed=11, bias=0.25)))
    first, second = initialize(spec), initialize(spec)
    assert parameters_equal(first, second)
    assert all(np.array_equal(t.biases, np.full(t.biases.shape, 0.25)) for t in first)


@pytest.mark.parametrize("scheme", ["uniform", "normal", "xavier_uniform", "he_normal",
                                    "orthogonal"])
def test_another_seed_gives_other_numbers(scheme: str) -> None:
    spec = validate(NetworkSpec((3, 5, 2), init=InitSpec(scheme, seed=1)))
    other = spec.with_changes(init=InitSpec(scheme, seed=2))
    assert not parameters_equal(initialize(spec), initialize(other))


def test_weights_are_drawn_transition_by_transition_in_c_order() -> None:
    spec = validate(NetworkSpec((3, 4, 2), init=InitSpec("uniform", seed=5, low=-1, high=1)))
    rng = np.random.default_rng(5)
    w0 = rng.uniform(-1, 1, size=(3, 4))
    w1 = rng.uniform(-1, 1, size=(4, 2))
    params = initialize(spec)
    np.testing.assert_array_equal(params[0].weights, w0)
    np.testing.assert_array_equal(params[1].weights, w1)


def test_xavier_uniform_respects_its_limit() -> None:
    spec = validate(NetworkSpec((30, 20), init=InitSpec("xavier_uniform", seed=0)))
    limit = np.sqrt(6 / 50)
    w = initialize(spec)[0].weights
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (4, 4)])
def test_orthogonal_weights_are_orthonormal(shape: tuple[int, int]) -> None:
    spec = validate(NetworkSpec(shape, init=InitSpec("orthogonal", seed=3)))
    w = initialize(spec)[0].weights
    small = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-12)


def test_reinitialising_some_transitions_keeps_the_others() -> None:
    spec = validate(NetworkSpec((2, 3, 2), init=InitSpec("normal", seed=9)))
    kept = initialize(spec.with_changes(init=InitSpec("constant", value=7.0)))
    mixed = initialize(spec, keep={0: kept[0]})
    fresh = initialize(spec)
    np.testing.assert_array_equal(mixed[0].weights, kept[0].weights)
    np.testing.assert_array_equal(mixed[1].weights, fresh[1].weights)
