"""Fixtures for the engine tests: named examples, seeded random problems, and a reference.

The reference is an independent forward pass and loss written in `autograd.numpy`, from the
formulas in DESIGN.md rather than from `app.engine`: HIPS autograd differentiates it, and
with plain NumPy arrays it is also a second opinion on every loss the engine reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from numpy.typing import NDArray

from app.engine import examples
from app.engine.optimizers import OptimizerState, new_state
from app.engine.params import Parameters, Transition, flat
from app.engine.spec import NetworkSpec, validate

Array = NDArray[np.float64]
LEAKY_SLOPE = 0.01  # leaky_relu's slope below 0, as in TensorFlow and PyTorch


# ---------------------------------------------------------------- the reference model
def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + anp.exp(-z))


def _softmax(z: Any) -> Any:
    e = anp.exp(z - anp.max(z, axis=1, keepdims=True))
    return e / anp.sum(e, axis=1, keepdims=True)


REFERENCE_ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "sigmoid": _sigmoid,
    "tanh": anp.tanh,
    "relu": lambda z: anp.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: anp.where(z > 0, z, LEAKY_SLOPE * z),
    "linear": lambda z: z,
    "softmax": _softmax,
}

REFERENCE_LOSSES: dict[str, Callable[[Any, Any], Any]] = {
    # ΣC: summed over every cell, never averaged.
    "sse": lambda a, y: anp.sum((a - y) ** 2),
    # mean over observations × outputs.
    "mse": lambda a, y: anp.mean((a - y) ** 2),
    # mean over observations × outputs of −[y log a + (1 − y) log(1 − a)].
    "binary_cross_entropy": lambda a, y: -anp.mean(y * anp.log(a) + (1 - y) * anp.log(1 - a)),
    # mean over observations of −Σ y log a (a = softmax).
    "cross_entropy": lambda a, y: -anp.sum(y * anp.log(a)) / a.shape[0],
}


class Reference:
    """The network and its loss, written independently of app.engine."""

    activations = REFERENCE_ACTIVATIONS
    losses = REFERENCE_LOSSES

    def forward(self, names: Sequence[str], arrays: Sequence[Any], x: Any) -> list[Any]:
        """Return [(z, a)] per layer 1…L; `arrays` is [W0, b0, W1, b1, …]."""
        layers = []
        a = x
        for l, name in enumerate(names):
            z = anp.dot(a, arrays[2 * l]) + arrays[2 * l + 1]  # (observations, fan_out)
            a = self.activations[name](z)
            layers.append((z, a))
        return layers

    def loss(self, names: Sequence[str], loss: str, arrays: Sequence[Any], x: Any, y: Any) -> Any:
        """Return the loss (no penalty) of the network on (x, y)."""
        return self.losses[loss](self.forward(names, arrays, x)[-1][1], y)


@pytest.fixture(scope="session")
def reference() -> Reference:
    """The independent reference model."""
    return Reference()


# ---------------------------------------------------------------- random problems
@dataclass(frozen=True)
class Problem:
    """A spec with its data and starting parameters, all drawn from one seed."""

    spec: NetworkSpec
    names: tuple[str, ...]  # activation of layers 1…L, as the test chose them
    inputs: Array  # (observations, layers[0])
    targets: Array  # (observations, layers[-1])
    parameters: Parameters

    def new_state(self, spec: NetworkSpec | None = None) -> OptimizerState:
        """Return fresh optimiser state for the optimiser of `spec` (default: our spec)."""
        return new_state((spec or self.spec).optimizer, flat(self.parameters))


def _targets(rng: np.random.Generator, loss: str, shape: tuple[int, int], kind: str) -> Array:
    if loss == "binary_cross_entropy":
        y = rng.uniform(0.0, 1.0, size=shape)
        hard = rng.random(shape) < 0.5
        y[hard] = np.round(y[hard])  # a mix of exact 0/1 labels and soft targets
        return y
    if loss == "cross_entropy":
        if kind == "one_hot":
            return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
        if kind == "probability":
            return rng.dirichlet(np.ones(shape[1]), size=shape[0])
        if kind == "unnormalised":
            return rng.uniform(0.0, 2.0, size=shape)  # nonnegative rows with Σy ≠ 1
        raise ValueError(f"unknown target kind {kind!r}")
    return rng.normal(0.0, 1.0, size=shape)


def random_problem(
    layers: Sequence[int],
    hidden: str | Sequence[str],
    output: str,
    loss: str,
    observations: int,
    seed: int,
    target_kind: str = "probability",
    **spec_fields: Any,
) -> Problem:
    """Draw inputs, targets fitting the loss, and weights N(0, 1/fan_in) from one seed."""
    if isinstance(hidden, str):  # one hidden activation: the spec's two named fields
        names = (*(hidden,) * (len(layers) - 2), output)
        chosen: dict[str, Any] = {"hidden_activation": hidden, "output_activation": output}
    else:  # one per hidden layer: the spec's per-transition override
        names = (*hidden, output)
        chosen = {"activations": names}
    spec = validate(NetworkSpec(layers=tuple(layers), loss=loss, **chosen, **spec_fields))
    rng = np.random.default_rng(seed)
    params = tuple(
        Transition(
            rng.normal(0.0, 1.0, size=(fan_in, fan_out)) / np.sqrt(fan_in),
            rng.normal(0.0, 0.5, size=fan_out),
        )
        for fan_in, fan_out in pairwise(layers)
    )
    x = rng.normal(0.0, 1.0, size=(observations, layers[0]))
    y = _targets(rng, loss, (observations, layers[-1]), target_kind)
    return Problem(spec, names, x, y, params)


@pytest.fixture(scope="session")
def make_problem() -> Callable[..., Problem]:
    """A factory of seeded random problems (session-scoped, so hypothesis may use it)."""
    return random_problem


@pytest.fixture(scope="session")
def example_problem() -> Callable[[examples.Example], Problem]:
    """A converter from a named example to a Problem."""

    def convert(ex: examples.Example) -> Problem:
        return Problem(
            ex.spec, ex.spec.transition_activations, ex.inputs, ex.targets, ex.parameters
        )

    return convert


# ---------------------------------------------------------------- named examples
@pytest.fixture
def origin() -> examples.Example:
    """The symmetry question's 2-3-3-2 sigmoid network, every weight and bias 1."""
    return examples.build("origin")


@pytest.fixture
def xor() -> examples.Example:
    """The XOR truth table on a 2-2-1 tanh/sigmoid network."""
    return examples.build("xor")


@pytest.fixture
def small_problem(make_problem: Callable[..., Problem]) -> Problem:
    """A 3-4-3-2 tanh network, sigmoid output, binary cross-entropy, 10 observations."""
    return make_problem((3, 4, 3, 2), "tanh", "sigmoid", "binary_cross_entropy", 10, seed=7)
