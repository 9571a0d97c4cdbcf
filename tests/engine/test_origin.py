"""The symmetry question's own printed numbers are the first acceptance test.

Every expected value below is copied from docs/symmetry-question.txt. The question
computed in float32 and rounded as it went: a¹ and a² match to every printed digit, a³, δ
and the gradient table within 2e-7 (DESIGN.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from app.engine import examples
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.trace import Trace, predict, trace
from app.engine.train import Progress, Trainer

A1 = [[0.9002495, 0.9002495, 0.9002495], [0.8320184, 0.8320184, 0.8320184]]
A2 = [[0.9758906, 0.9758906, 0.9758906], [0.9705753, 0.9705753, 0.9705753]]
A3 = [[0.9806908, 0.9806908], [0.9803864, 0.9803864]]
DLOSS_DA3 = [[1.5613816, 1.1613816], [-0.0392272, 1.9607728]]
DA3_DN3 = [[0.01893635, 0.01893635], [0.01922891, 0.01922891]]
DELTA3 = [[0.02956687, 0.02199233], [-0.0007543, 0.03770352]]
GRADIENT_TABLE = [
    [0.0288126, 0.0596958],
    [0.028122, 0.0580562],
    [0.028122, 0.0580562],
    [0.028122, 0.0580562],
]
AFTER_1000 = [[0.5992708, 0.1997655], [0.5993174, 0.2004307]]


@pytest.fixture
def origin_trace() -> Trace:
    ex = examples.build("origin")
    return trace(ex.spec, ex.parameters, ex.inputs, ex.targets,
                 new_state(ex.spec.optimizer, flat(ex.parameters)))


def test_first_pre_activation_is_the_questions_table(origin_trace: Trace) -> None:
    np.testing.assert_allclose(origin_trace.forward[0].z, [[2.2] * 3, [1.6] * 3], atol=1e-15)


@pytest.mark.parametrize(("layer", "printed"), [(1, A1), (2, A2)])
def test_hidden_activations_match_every_printed_digit(
    origin_trace: Trace, layer: int, printed: list[list[float]]
) -> None:
    np.testing.assert_array_equal(np.round(origin_trace.forward[layer - 1].a, 7), printed)


def test_output_activation_within_float32_rounding(origin_trace: Trace) -> None:
    np.testing.assert_allclose(origin_trace.forward[2].a, A3, rtol=0, atol=2e-7)


@pytest.mark.parametrize(
    ("quantity", "printed"),
    [("dloss_da", DLOSS_DA3), ("da_dz", DA3_DN3), ("delta", DELTA3)],
)
def test_output_chain_rule_terms_within_2e7(
    origin_trace: Trace, quantity: str, printed: list[list[float]]
) -> None:
    np.testing.assert_allclose(getattr(origin_trace.backward_for(3), quantity), printed,
                               rtol=0, atol=2e-7)


def test_last_layer_gradient_table_within_2e7(origin_trace: Trace) -> None:
    np.testing.assert_allclose(origin_trace.backward_for(3).augmented_gradient(),
                               GRADIENT_TABLE, rtol=0, atol=2e-7)


def test_augmented_input_has_the_column_of_ones(origin_trace: Trace) -> None:
    np.testing.assert_array_equal(origin_trace.forward[0].augmented_input(),
                                  [[1, 0.8, 0.4], [1, 0.3, 0.3]])


def test_loss_is_the_sum_of_squares_over_observations_and_outputs(origin_trace: Trace) -> None:
    a3 = origin_trace.forward[2].a
    y = np.array([[0.2, 0.4], [1.0, 0.0]])
    assert origin_trace.loss == pytest.approx(float(((a3 - y) ** 2).sum()), rel=1e-15)
    assert origin_trace.loss_per_observation.sum() == pytest.approx(origin_trace.loss)


def test_sgd_lr_half_for_1000_iterations_gives_the_questions_output() -> None:
    ex = examples.build("origin")
    state = new_state(ex.spec.optimizer, flat(ex.parameters))
    result = Trainer(ex.spec, ex.inputs, ex.targets).run(ex.parameters, state, Progress(), 1000)
    assert result.progress.step == 1000
    np.testing.assert_allclose(predict(ex.spec, result.parameters, ex.inputs), AFTER_1000,
                               rtol=0, atol=5e-7)
