"""TensorFlow Playground's circle, learnt by the engine alone (issue 5's accuracy bar).

A 2-8-8-8-1 network — tanh hidden layers, a sigmoid output with binary cross-entropy,
Xavier-uniform weights from seed 0 and zero biases — trained with Adam (learning rate
0.03, β₁ 0.9, β₂ 0.999) by `Trainer.run` for at most 2,000 updates on the circle dataset
(500 points, 10 % noise, seed 0) split 50 % / 50 % with seed 0, must classify at least
95 % of the 250 held-out points right. Mini-batches of 10 (the playground's default) and
full batch are both held to it. Accuracy is counted here, from the outputs, not with
`datasets.accuracy`.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.datasets import DatasetSpec, generate, split
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.spec import InitSpec, NetworkSpec, OptimizerSpec, validate
from app.engine.trace import predict
from app.engine.train import Progress, Trainer

POINTS = 500
NOISE = 0.1
ITERATIONS = 2_000
TARGET = 0.95  # test accuracy, at least


def _test_accuracy(batch_size: int | None, seed: int) -> tuple[float, int]:
    """Train on the circle's training half; return (test accuracy, updates run)."""
    data = generate(DatasetSpec("circle", points=POINTS, noise=NOISE, seed=seed))
    train, test = split(data, 0.5, seed)
    spec = validate(
        NetworkSpec(
            layers=(2, 8, 8, 8, 1),
            hidden_activation="tanh",
            output_activation="sigmoid",
            loss="binary_cross_entropy",
            init=InitSpec(scheme="xavier_uniform", seed=seed),
            optimizer=OptimizerSpec(name="adam", learning_rate=0.03),
            batch_size=batch_size,
        )
    )
    params = initialize(spec)
    run = Trainer(spec, train.inputs, train.targets).run(
        params, new_state(spec.optimizer, flat(params)), Progress(), ITERATIONS
    )
    out = predict(spec, run.parameters, test.inputs)  # (250, 1)
    right = (out[:, 0] > 0.5) == (test.targets[:, 0] == 1.0)
    return float(np.mean(right)), run.iterations_run


@pytest.mark.parametrize("batch_size", [10, None], ids=["batch-10", "full-batch"])
def test_circle_reaches_95_percent_test_accuracy_within_2000_adam_steps(
    batch_size: int | None,
) -> None:
    accuracy, run = _test_accuracy(batch_size, seed=0)
    assert run <= ITERATIONS
    assert accuracy >= TARGET, f"test accuracy {accuracy:.3f} after {run} updates"


def test_untrained_net_is_far_from_the_bar() -> None:
    """The bar is earned by training: the same net before any update is near chance."""
    data = generate(DatasetSpec("circle", points=POINTS, noise=NOISE, seed=0))
    _, test = split(data, 0.5, 0)
    spec = validate(
        NetworkSpec(
            layers=(2, 8, 8, 8, 1),
            hidden_activation="tanh",
            output_activation="sigmoid",
            loss="binary_cross_entropy",
        )
    )
    out = predict(spec, initialize(spec), test.inputs)
    right = (out[:, 0] > 0.5) == (test.targets[:, 0] == 1.0)
    assert float(np.mean(right)) < 0.8
