"""The fast training path against the traced path, and what a run reports.

`Trainer.run` keeps no trace and lays parameters out as augmented matrices; iterating
`trace()` (feeding back its new parameters and optimiser state, and choosing rows with
`next_rows`/`advance`) is the readable definition it must reproduce. Losses a run reports
are checked against the independent reference model in conftest.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pytest

from app.engine.optimizers import OptimizerState, new_state
from app.engine.params import Parameters, Transition, flat
from app.engine.spec import InitSpec, NetworkSpec, OptimizerSpec, RegularizationSpec
from app.engine.trace import Trace, trace
from app.engine.train import Progress, RunResult, Trainer, advance, next_rows

if TYPE_CHECKING:  # fixtures' types; conftest is never imported by test modules
    from conftest import Problem, Reference

ITERATIONS = 100
ROWS = 10
# Calm enough that the two paths' rounding differences (~1e-16 a step) are not amplified
# past 1e-12 in 100 steps: RMSProp multiplies them by up to lr/ε when √s is tiny.
OPTIMIZERS = {
    "sgd": OptimizerSpec(name="sgd", learning_rate=0.2),
    "momentum": OptimizerSpec(name="momentum", learning_rate=0.05, momentum=0.8),
    "nesterov": OptimizerSpec(name="momentum", learning_rate=0.05, momentum=0.8, nesterov=True),
    "rmsprop": OptimizerSpec(name="rmsprop", learning_rate=0.003, rho=0.85, epsilon=1e-2),
    "adam": OptimizerSpec(name="adam", learning_rate=0.01, beta1=0.85, beta2=0.99),
}
NETWORKS = {  # layers, hidden activation, output activation, loss, learning-rate scale
    "tanh-sigmoid-bce": ((3, 4, 3, 2), "tanh", "sigmoid", "binary_cross_entropy", 1.0),
    "leaky-softmax-ce": ((2, 5, 3), "leaky_relu", "softmax", "cross_entropy", 1.0),
    "sigmoid-linear-mse": ((4, 3, 3, 2), "sigmoid", "linear", "mse", 1.0),
    "relu-tanh-sse": ((2, 4, 2), "relu", "tanh", "sse", 0.1),  # sse sums over the rows
}


def _problem(
    make_problem: Callable[..., Problem],
    network: str,
    optimizer: str = "sgd",
    **spec_fields: object,
) -> Problem:
    layers, hidden, output, loss, scale = NETWORKS[network]
    opt = OPTIMIZERS[optimizer]
    opt = replace(opt, learning_rate=opt.learning_rate * scale)
    return make_problem(layers, hidden, output, loss, ROWS, 21, optimizer=opt, **spec_fields)


def _run(
    problem: Problem,
    iterations: int,
    spec: NetworkSpec | None = None,
    params: Parameters | None = None,
    state: OptimizerState | None = None,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> RunResult:
    spec = spec or problem.spec
    return Trainer(spec, problem.inputs, problem.targets).run(
        params or problem.parameters,
        state or problem.new_state(spec),
        progress or Progress(),
        iterations,
        deadline,
    )


def _traced(problem: Problem, iterations: int) -> list[tuple[Trace, Progress]]:
    """Return each step's trace and the progress after it, by iterating trace()."""
    spec = problem.spec
    params, state, progress = problem.parameters, problem.new_state(), Progress()
    steps = []
    for _ in range(iterations):
        rows = next_rows(spec, ROWS, progress)
        t = trace(spec, params, problem.inputs, problem.targets, state, rows=rows)
        params, state = t.new_parameters, t.state_after
        progress = advance(spec, ROWS, progress)
        steps.append((t, progress))
    return steps


def _close(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return all(
        np.allclose(g, e, rtol=1e-12, atol=1e-12) for g, e in zip(got, expected, strict=True)
    )


def _equal(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def _same_run(a: RunResult, b: RunResult) -> bool:
    """Return True when two runs ended bit for bit in the same place."""
    return (
        a.progress == b.progress
        and _equal(flat(a.parameters), flat(b.parameters))
        and a.state.t == b.state.t
        and all(_equal(a.state.slots[k], b.state.slots[k]) for k in b.state.slots)
        and a.state.slots.keys() == b.state.slots.keys()
    )


# ---------------------------------------------------------------- fast path = traced path
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("regularization", ["none", "l2", "l1"])
@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_fast_path_equals_traced_path(
    make_problem: Callable[..., Problem],
    optimizer: str,
    batch_size: int | None,
    regularization: str,
    network: str,
) -> None:
    reg = RegularizationSpec(regularization, 0.0 if regularization == "none" else 0.02)
    problem = _problem(make_problem, network, optimizer, regularization=reg, batch_size=batch_size)
    fast = _run(problem, ITERATIONS)
    last, progress = _traced(problem, ITERATIONS)[-1]
    assert fast.progress == progress
    assert _close(flat(fast.parameters), flat(last.new_parameters))
    assert fast.state.slots.keys() == last.state_after.slots.keys()
    for name, arrays in last.state_after.slots.items():
        assert _close(fast.state.slots[name], arrays), name
    assert fast.state.t == last.state_after.t == ITERATIONS


@pytest.mark.parametrize("network", list(NETWORKS))
def test_full_batch_history_is_the_traced_loss_after_each_step(
    make_problem: Callable[..., Problem], network: str
) -> None:
    problem = _problem(make_problem, network, "momentum")
    fast = _run(problem, 30)
    steps = _traced(problem, 31)  # trace k + 1 reports the loss after k updates
    np.testing.assert_allclose(
        fast.history_losses, [t.loss for t, _ in steps[1:]], rtol=1e-12, atol=1e-14
    )


# ---------------------------------------------------------------- progress
def test_full_batch_counts_one_epoch_per_step(small_problem: Problem) -> None:
    assert _run(small_problem, 7).progress == Progress(step=7, epoch=7, cursor=0)


@pytest.mark.parametrize(
    ("iterations", "progress"),
    [
        (1, Progress(1, 0, 3)),
        (4, Progress(4, 1, 0)),
        (6, Progress(6, 1, 6)),
        (9, Progress(9, 2, 3)),
    ],
)
def test_mini_batches_of_three_on_ten_rows_take_four_updates_per_epoch(
    small_problem: Problem, iterations: int, progress: Progress
) -> None:
    spec = small_problem.spec.with_changes(batch_size=3)
    assert _run(small_problem, iterations, spec).progress == progress


def test_an_epoch_visits_every_row_once_in_batches_of_three_three_three_one(
    small_problem: Problem,
) -> None:
    spec = small_problem.spec.with_changes(batch_size=3)
    progress, batches = Progress(step=0, epoch=2, cursor=0), []
    while progress.epoch == 2:
        rows = next_rows(spec, ROWS, progress)
        assert rows is not None
        batches.append(rows)
        progress = advance(spec, ROWS, progress)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(ROWS))


def test_full_batch_uses_every_row(small_problem: Problem) -> None:
    assert next_rows(small_problem.spec, ROWS, Progress(5, 5, 0)) is None


def test_a_batch_as_large_as_the_data_is_full_batch(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=ROWS + 5)
    assert next_rows(spec, ROWS, Progress()) is None
    assert advance(spec, ROWS, Progress()) == Progress(1, 1, 0)


# ---------------------------------------------------------------- determinism
def test_same_spec_and_seed_give_the_same_run(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3, optimizer=OPTIMIZERS["adam"])
    first, second = _run(small_problem, 50, spec), _run(small_problem, 50, spec)
    assert _same_run(first, second)
    assert first.history_losses == second.history_losses


def _order(spec: NetworkSpec, epoch: int, step: int = 0) -> list[int]:
    """Return the rows of one whole epoch, batch after batch."""
    progress, rows = Progress(step, epoch, 0), []
    while progress.epoch == epoch:
        batch = next_rows(spec, ROWS, progress)
        assert batch is not None
        rows += batch.tolist()
        progress = advance(spec, ROWS, progress)
    return rows


def test_shuffle_order_ignores_the_step_count(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3, shuffle_seed=5)
    assert _order(spec, epoch=3, step=0) == _order(spec, epoch=3, step=1234)


def test_shuffle_order_ignores_the_init_seed_and_optimiser(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3, shuffle_seed=5)
    other = spec.with_changes(init=InitSpec(seed=99), optimizer=OPTIMIZERS["adam"])
    assert _order(spec, epoch=1) == _order(other, epoch=1)


def test_shuffle_seed_defaults_to_the_init_seed(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3)
    explicit = spec.with_changes(shuffle_seed=spec.init.seed)
    assert _order(spec, epoch=2) == _order(explicit, epoch=2)


def test_shuffle_order_changes_with_the_seed(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3)
    orders = {tuple(_order(spec.with_changes(shuffle_seed=s), epoch=0)) for s in range(5)}
    assert len(orders) > 1


def test_shuffle_order_changes_with_the_epoch(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(batch_size=3, shuffle_seed=5)
    assert len({tuple(_order(spec, epoch=e)) for e in range(5)}) > 1


@pytest.mark.parametrize("split", [60, 61])  # batch 3 on 10 rows: 61 stops mid-epoch
@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_run_split_in_two_equals_one_run(
    small_problem: Problem, batch_size: int | None, optimizer: str, split: int
) -> None:
    spec = small_problem.spec.with_changes(batch_size=batch_size, optimizer=OPTIMIZERS[optimizer])
    whole = _run(small_problem, 100, spec)
    first = _run(small_problem, split, spec)
    second = _run(small_problem, 100 - split, spec, first.parameters, first.state, first.progress)
    assert _same_run(second, whole)


def test_a_run_leaves_the_given_parameters_and_state_untouched(small_problem: Problem) -> None:
    spec = small_problem.spec.with_changes(optimizer=OPTIMIZERS["adam"])
    start = _run(small_problem, 5, spec)
    params = [a.copy() for a in flat(start.parameters)]
    slots = {k: [a.copy() for a in v] for k, v in start.state.slots.items()}
    _run(small_problem, 20, spec, start.parameters, start.state, start.progress)
    assert _equal(flat(start.parameters), params)
    assert all(_equal(start.state.slots[k], v) for k, v in slots.items())
    assert start.state.t == 5


def test_a_split_run_continues_the_history(small_problem: Problem) -> None:
    first = _run(small_problem, 60)
    second = _run(small_problem, 40, None, first.parameters, first.state, first.progress)
    whole = _run(small_problem, 100)
    assert first.history_steps + second.history_steps == whole.history_steps
    assert first.history_losses + second.history_losses == whole.history_losses


def _copied(params: Parameters) -> Parameters:
    """Return equal parameters in new arrays (what a trainer has never seen)."""
    return tuple(Transition(t.weights.copy(), t.biases.copy()) for t in params)


def _same_report(a: RunResult, b: RunResult) -> bool:
    """Return True when two runs ended in the same place and reported the same numbers."""
    return (_same_run(a, b) and a.loss == b.loss and a.iterations_run == b.iterations_run
            and a.history_steps == b.history_steps and a.history_losses == b.history_losses
            and a.diverged_at == b.diverged_at)


@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_trainer_stepped_again_from_what_it_returned_ends_where_a_fresh_one_does(
        small_problem: Problem, batch_size: int | None, optimizer: str) -> None:
    spec = small_problem.spec.with_changes(batch_size=batch_size, optimizer=OPTIMIZERS[optimizer])
    kept = Trainer(spec, small_problem.inputs, small_problem.targets)
    params, state, progress = small_problem.parameters, small_problem.new_state(spec), Progress()
    for iterations in [1, 1, 5, 0, 1, 3]:  # each run starts from the last one's parameters
        again = kept.run(params, state, progress, iterations)
        fresh = Trainer(spec, small_problem.inputs, small_problem.targets).run(
            _copied(params), state, progress, iterations)
        assert _same_report(again, fresh)
        params, state, progress = again.parameters, again.state, again.progress


def test_a_trainer_handed_other_parameters_trains_those(small_problem: Problem) -> None:
    kept = Trainer(small_problem.spec, small_problem.inputs, small_problem.targets)
    first = kept.run(small_problem.parameters, small_problem.new_state(), Progress(), 4)
    edited = (Transition(first.parameters[0].weights + 0.25, first.parameters[0].biases),
              *first.parameters[1:])
    for params in (small_problem.parameters, edited, _copied(first.parameters)):
        got = kept.run(params, first.state, first.progress, 2)
        fresh = Trainer(small_problem.spec, small_problem.inputs, small_problem.targets).run(
            _copied(params), first.state, first.progress, 2)
        assert _same_report(got, fresh)


# ---------------------------------------------------------------- divergence
Diverging = tuple[NetworkSpec, np.ndarray, np.ndarray, Parameters]
DIVERGING = {  # learning rate, inputs, batch size: each step overshoots further
    "fast": (1e3, [[100.0], [-50.0], [30.0]], None),  # ×~10⁷ a step: within one checkpoint
    "slow": (1.0, [[1.0], [-0.5], [0.3]], None),  # ×~5.7 a step: past several checkpoints
    "mini-batch": (1.5, [[1.0], [-0.5], [0.3]], 2),
}


@pytest.fixture(params=list(DIVERGING))
def diverging(request: pytest.FixtureRequest) -> Diverging:
    """A 1-1 linear network with sse whose learning rate is far too large."""
    rate, inputs, batch_size = DIVERGING[request.param]
    spec = NetworkSpec(
        layers=(1, 1),
        output_activation="linear",
        loss="sse",
        optimizer=OptimizerSpec(name="sgd", learning_rate=rate),
        batch_size=batch_size,
    )
    x = np.array(inputs)  # (3, 1)
    y = np.array([[1.0], [2.0], [-1.0]])  # (3, 1)
    return spec, x, y, (Transition(np.array([[0.5]]), np.array([0.1])),)


def _diverge(diverging: Diverging, iterations: int = 1000) -> RunResult:
    spec, x, y, params = diverging
    return Trainer(spec, x, y).run(
        params, new_state(spec.optimizer, flat(params)), Progress(), iterations
    )


def test_divergence_is_reported_with_the_step(diverging: Diverging) -> None:
    result = _diverge(diverging)
    assert result.diverged_at is not None
    assert 0 < result.diverged_at <= 1000
    assert result.iterations_run < 1000
    assert not result.truncated


def test_divergence_leaves_the_last_finite_parameters(diverging: Diverging) -> None:
    result = _diverge(diverging)
    assert all(np.isfinite(a).all() for a in flat(result.parameters))
    assert result.progress.step == result.iterations_run > 0


def test_divergence_stops_where_one_more_step_is_not_finite(diverging: Diverging) -> None:
    spec, x, y, _ = diverging
    result = _diverge(diverging)
    t = trace(spec, result.parameters, x, y, result.state)
    new = flat(t.new_parameters)
    assert not (math.isfinite(t.loss) and all(np.isfinite(a).all() for a in new))


def test_divergence_keeps_only_finite_history(diverging: Diverging) -> None:
    result = _diverge(diverging)
    assert result.history_losses
    assert all(math.isfinite(v) for v in result.history_losses)
    assert len(result.history_steps) == len(result.history_losses)


@pytest.mark.parametrize("fraction", [0.25, 0.9, 1.1, 2.0])
def test_divergence_is_found_wherever_the_run_stops(diverging: Diverging, fraction: float) -> None:
    # Runs of any length, whatever checkpoint they replay from, stop at the same place.
    full = _diverge(diverging)
    iterations = max(1, int(fraction * full.iterations_run))
    result = _diverge(diverging, iterations)
    if iterations <= full.iterations_run:
        assert result.diverged_at is None
        assert result.progress.step == iterations
    else:
        assert result.diverged_at == full.diverged_at
        assert _equal(flat(result.parameters), flat(full.parameters))


# ---------------------------------------------------------------- deadline
def test_a_passed_deadline_truncates_the_run(small_problem: Problem) -> None:
    result = _run(small_problem, 10_000, deadline=time.perf_counter())
    assert result.truncated
    assert 0 < result.iterations_run < 10_000
    assert result.progress.step == result.iterations_run


def test_a_run_without_deadline_is_not_truncated(small_problem: Problem) -> None:
    result = _run(small_problem, 50)
    assert not result.truncated
    assert result.iterations_run == 50


# ---------------------------------------------------------------- history
def test_full_batch_history_steps_are_consecutive_up_to_the_last(small_problem: Problem) -> None:
    first = _run(small_problem, 25)
    result = _run(small_problem, 30, None, first.parameters, first.state, first.progress)
    assert result.history_steps == list(range(26, 56))
    assert result.history_steps[-1] == result.progress.step


def test_last_history_loss_is_the_run_loss(small_problem: Problem) -> None:
    result = _run(small_problem, 40)
    assert result.history_losses[-1] == result.loss


@pytest.mark.parametrize("batch_size", [None, 3])
def test_run_loss_equals_the_reference_loss_of_the_returned_parameters(
    small_problem: Problem, reference: Reference, batch_size: int | None
) -> None:
    spec = small_problem.spec.with_changes(batch_size=batch_size)
    result = _run(small_problem, 40, spec)
    expected = reference.loss(
        small_problem.names,
        spec.loss,
        flat(result.parameters),
        small_problem.inputs,
        small_problem.targets,
    )
    assert result.loss == pytest.approx(float(expected), rel=1e-12)


def test_mini_batch_history_is_the_full_data_loss_at_its_steps(
    make_problem: Callable[..., Problem], reference: Reference
) -> None:
    problem = _problem(make_problem, "tanh-sigmoid-bce", batch_size=3)
    result = _run(problem, 22)
    after = {p.step: t.new_parameters for t, p in _traced(problem, 22)}
    assert result.history_steps
    assert result.history_steps[-1] == result.progress.step
    for step, value in zip(result.history_steps, result.history_losses, strict=True):
        expected = reference.loss(
            problem.names, problem.spec.loss, flat(after[step]), problem.inputs, problem.targets
        )
        assert value == pytest.approx(float(expected), rel=1e-12), step


def test_a_trainer_stepped_again_after_a_divergence_ends_where_a_fresh_one_does(
        diverging: Diverging) -> None:
    spec, x, y, params = diverging
    kept = Trainer(spec, x, y)
    first = kept.run(params, new_state(spec.optimizer, flat(params)), Progress(), 1000)
    assert first.diverged_at is not None
    again = kept.run(first.parameters, first.state, first.progress, 10)
    fresh = Trainer(spec, x, y).run(_copied(first.parameters), first.state, first.progress, 10)
    assert _same_report(again, fresh)
