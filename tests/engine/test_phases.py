"""The phase stepper: one training step, one phase at a time, landing where a step lands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest

from app.engine.examples import Example
from app.engine.params import flat
from app.engine.phases import Phase, phases, view
from app.engine.trace import Trace, trace
from app.engine.train import Progress, Trainer

if TYPE_CHECKING:  # fixtures' types; conftest is never imported by test modules
    from conftest import Problem

ORIGIN_PHASES = [  # L = 3, as the origin's network
    ("forward", 1),
    ("forward", 2),
    ("forward", 3),
    ("loss", None),
    ("backward", 3),
    ("backward", 2),
    ("backward", 1),
    ("update", None),
]


@pytest.fixture
def origin_trace(origin: Example, example_problem: Callable[[Example], Problem]) -> Trace:
    """The first step of the origin network."""
    problem = example_problem(origin)
    return trace(
        problem.spec, problem.parameters, problem.inputs, problem.targets, problem.new_state()
    )


@pytest.fixture(params=["origin", "xor", "small_problem"])
def any_problem(
    request: pytest.FixtureRequest, example_problem: Callable[[Example], Problem]
) -> Problem:
    """Both named examples and a random problem."""
    value = request.getfixturevalue(request.param)
    return value if request.param == "small_problem" else example_problem(value)


def test_three_transitions_give_forward_loss_backward_update() -> None:
    assert [(p.kind, p.layer) for p in phases(3)] == ORIGIN_PHASES


@pytest.mark.parametrize("transitions", [1, 2, 5])
def test_every_layer_is_computed_once_forward_and_once_backward(transitions: int) -> None:
    all_phases = phases(transitions)
    assert len(all_phases) == 2 * transitions + 2
    forward = [p.layer for p in all_phases if p.kind == "forward"]
    backward = [p.layer for p in all_phases if p.kind == "backward"]
    assert forward == list(range(1, transitions + 1))
    assert backward == list(range(transitions, 0, -1))


def test_labels_name_the_kind_and_the_layer() -> None:
    assert [p.label for p in phases(1)] == ["forward layer 1", "loss", "backward layer 1", "update"]


def test_nothing_is_computed_at_position_zero(origin_trace: Trace) -> None:
    v = view(origin_trace, 0)
    assert v.just_computed is None
    assert v.next == Phase("forward", 1)
    assert not v.complete
    assert v.done == ()


@pytest.mark.parametrize("position", range(1, len(ORIGIN_PHASES)))
def test_a_position_has_just_computed_one_phase_and_shows_the_next(
    origin_trace: Trace, position: int
) -> None:
    v = view(origin_trace, position)
    assert v.just_computed == Phase(*ORIGIN_PHASES[position - 1])
    assert v.next == Phase(*ORIGIN_PHASES[position])
    assert not v.complete


def test_the_last_position_is_complete(origin_trace: Trace) -> None:
    v = view(origin_trace, len(ORIGIN_PHASES))
    assert v.complete
    assert v.next is None
    assert v.just_computed == Phase("update", None)


def test_stepping_through_computes_layers_in_order(origin_trace: Trace) -> None:
    seen = [
        (view(origin_trace, p).forward_layers(), view(origin_trace, p).backward_layers())
        for p in range(len(ORIGIN_PHASES) + 1)
    ]
    assert seen == [
        ([], []),
        ([1], []),
        ([1, 2], []),
        ([1, 2, 3], []),
        ([1, 2, 3], []),
        ([1, 2, 3], [3]),
        ([1, 2, 3], [3, 2]),
        ([1, 2, 3], [3, 2, 1]),
        ([1, 2, 3], [3, 2, 1]),
    ]


def test_loss_and_update_show_once_their_phase_is_done(origin_trace: Trace) -> None:
    has = [
        (view(origin_trace, p).has("loss"), view(origin_trace, p).has("update"))
        for p in range(len(ORIGIN_PHASES) + 1)
    ]
    assert has == [(False, False)] * 4 + [(True, False)] * 4 + [(True, True)]


@pytest.mark.parametrize(("asked", "clamped"), [(-1, 0), (-100, 0), (9, 8), (1000, 8)])
def test_position_is_clamped_to_the_phases(origin_trace: Trace, asked: int, clamped: int) -> None:
    assert view(origin_trace, asked).position == clamped


def test_each_click_computes_what_the_previous_view_announced(origin_trace: Trace) -> None:
    for p in range(len(ORIGIN_PHASES)):
        assert view(origin_trace, p + 1).just_computed == view(origin_trace, p).next


def test_running_every_phase_equals_one_training_step(any_problem: Problem) -> None:
    p = any_problem
    t = trace(p.spec, p.parameters, p.inputs, p.targets, p.new_state())
    stepped = view(t, len(phases(p.spec.transitions)))
    assert stepped.complete
    trained = Trainer(p.spec, p.inputs, p.targets).run(p.parameters, p.new_state(), Progress(), 1)
    for got, expected in zip(
        flat(stepped.trace.new_parameters), flat(trained.parameters), strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
