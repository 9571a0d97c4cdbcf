"""Named examples: a spec, its data and its starting parameters, ready to trace or train.

`origin` is the network of the symmetry question (docs/symmetry-question.txt):
2-3-3-2, sigmoid everywhere, every weight and bias 1, the sum-of-squares cost ΣC and plain
gradient descent with learning rate 0.5. `xor` is the 4-row truth table on a small
random-initialised 2-2-1 network — the classic net that needs its hidden layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .initializers import initialize
from .params import Parameters
from .spec import InitSpec, NetworkSpec, OptimizerSpec, SpecError, validate

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Example:
    """A ready-to-run network: spec, data and initial parameters."""

    name: str
    title: str
    description: str
    spec: NetworkSpec
    inputs: Array  # (observations, inputs)
    targets: Array  # (observations, outputs)
    parameters: Parameters


def _origin() -> Example:
    spec = NetworkSpec(
        layers=(2, 3, 3, 2),
        hidden_activation="sigmoid",
        output_activation="sigmoid",
        loss="sse",
        init=InitSpec(scheme="constant", value=1.0, bias=1.0),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.5),
    )
    inputs = np.array([[0.8, 0.4], [0.3, 0.3]])  # (2 observations, 2 inputs)
    targets = np.array([[0.2, 0.4], [1.0, 0.0]])  # (2 observations, 2 outputs)
    return Example(
        "origin",
        "The symmetry question",
        "A learner's 2-3-3-2 sigmoid network with every weight and bias set to 1: the "
        "hidden neurons never become different.",
        validate(spec), inputs, targets, initialize(spec),
    )


def _xor() -> Example:
    spec = NetworkSpec(
        layers=(2, 2, 1),
        hidden_activation="tanh",
        output_activation="sigmoid",
        loss="binary_cross_entropy",
        init=InitSpec(scheme="xavier_uniform", seed=0),
        optimizer=OptimizerSpec(name="sgd", learning_rate=1.0),
    )
    inputs = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    targets = np.array([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)
    return Example(
        "xor",
        "XOR",
        "The 4-row truth table of exclusive or: not linearly separable, so the hidden "
        "layer has to earn its keep.",
        validate(spec), inputs, targets, initialize(spec),
    )


EXAMPLES: dict[str, Callable[[], Example]] = {"origin": _origin, "xor": _xor}


def build(name: str) -> Example:
    """Return a fresh copy of the named example."""
    if name not in EXAMPLES:
        raise SpecError("example", f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
    return EXAMPLES[name]()
