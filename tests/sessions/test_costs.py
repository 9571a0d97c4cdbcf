"""The cost model of every read (app/sessions/costs.py): caps derived from the settings,
deterministic samples, what a response leaves out said, and refusals that name the limit;
and a step that keeps to its time budget when one step is slow."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.engine import deadlines
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.spec import NetworkSpec, validate
from app.engine.train import Progress, Trainer, next_rows
from app.sessions import costs
from app.sessions.costs import Costs
from app.sessions.errors import ServiceError
from app.sessions.service import SessionService
from app.sessions.stores.memory import MemoryStore
from app.settings import Settings

WIDE = [40, 500, 1]  # 541 neurons: a trace holds 30,000 // 541 = 55 observations
CAP = costs.TRACE_CELLS // sum(WIDE)
ROWS = 100


def _service(**limits: Any) -> SessionService:
    settings = Settings(store="memory", create_rate=0, **limits)
    return SessionService(MemoryStore(), settings)


def _wide(service: SessionService, **fields: Any) -> Any:
    rng = np.random.default_rng(0)
    return service.create({
        "layers": WIDE, "hidden_activation": "relu", "output_activation": "linear",
        "loss": "mse", "inputs": rng.normal(size=(ROWS, WIDE[0])).tolist(),
        "targets": rng.normal(size=(ROWS, 1)).tolist(), **fields})


def test_a_traces_rows_come_from_its_cells_and_the_settings() -> None:
    big = NetworkSpec((19, 1024, 200, 1))
    assert Costs(Settings()).trace_rows(big) == costs.TRACE_CELLS // 1244 == 24
    assert Costs(Settings(max_observations=10)).trace_rows(NetworkSpec((2, 3, 1))) == 10
    assert Costs(Settings(max_observations=10)).table_rows() == 10
    assert Costs(Settings(max_parameters=100)).gradcheck_parameters() == 100
    assert Costs(Settings()).table_rows(columns=20) == costs.TABLE_CELLS // 20


def test_a_large_batch_is_traced_over_its_first_rows_every_time() -> None:
    service = _service()
    s = _wide(service)
    first, again = service.trace_of(s), service.trace_of(service.get(s.id))
    assert first.rows is not None
    assert first.rows.tolist() == list(range(CAP))
    assert again.rows is not None
    assert again.rows.tolist() == first.rows.tolist()
    assert first.batch == ROWS
    assert first.sampled
    assert np.array_equal(first.forward[0].z, again.forward[0].z)


def test_a_mini_batch_is_sampled_from_its_own_rows() -> None:
    service = _service()
    s = _wide(service, batch_size=80)
    tr = service.trace_of(s)
    assert tr.rows is not None
    assert tr.batch == 80
    batch = service.trace_of(s, list(range(3)))  # an explicit ask: not sampled
    assert batch.batch is None
    assert not batch.sampled
    whole = next_rows(s.spec, ROWS, s.progress)
    assert whole is not None
    assert tr.rows.tolist() == whole[:CAP].tolist()


def test_a_small_batch_is_traced_whole() -> None:
    service = _service()
    s = service.create({"example": "xor"})
    tr = service.trace_of(s)
    assert tr.batch is None
    assert not tr.sampled


def test_asking_for_more_observations_than_a_trace_holds_is_refused_naming_the_limit() -> None:
    service = _service()
    s = _wide(service)
    with pytest.raises(ServiceError) as caught:
        service.trace_of(s, list(range(CAP + 1)))
    err = caught.value
    assert (err.status, err.code, err.field, err.limit) == (422, "limit_exceeded",
                                                            "observations", CAP)
    assert f"at most {CAP} observations" in err.message
    assert "observations=" in err.message


def test_a_large_json_trace_leaves_out_its_repeats_and_names_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = validate(NetworkSpec(tuple(WIDE)))
    every = costs.trace_numbers(spec, CAP, True)
    assert costs.trace_json(spec, CAP, True, 0, penalised=False) == ()  # within the cap
    monkeypatch.setattr(costs, "RESPONSE_NUMBERS", every - 1)
    assert costs.trace_json(spec, CAP, True, 0, penalised=False) == (
        *costs.REPEATS, *costs.PLAIN_REPEATS)
    assert costs.trace_json(spec, CAP, True, 0, penalised=True) == costs.REPEATS
    monkeypatch.setattr(costs, "RESPONSE_NUMBERS", costs.trace_numbers(spec, CAP, False) - 1)
    assert costs.trace_json(spec, CAP, False, 0, penalised=True) == ("penalty_gradient",)


def test_a_json_trace_over_the_cap_without_its_repeats_is_refused_naming_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = validate(NetworkSpec(tuple(WIDE)))
    monkeypatch.setattr(costs, "RESPONSE_NUMBERS", 1000)
    with pytest.raises(ServiceError) as caught:
        costs.trace_json(spec, CAP, False, 0, penalised=False)
    assert (caught.value.code, caught.value.field, caught.value.limit) == (
        "limit_exceeded", "trace", 1000)
    assert "export?format=python" in caught.value.message


def test_the_gradient_check_samples_a_bounded_seeded_set_and_says_how_many() -> None:
    service = _service()
    s = _wide(service)
    first = service.diagnostics(s).gradient_check
    again = service.diagnostics(service.get(s.id)).gradient_check
    assert 0 < first.checked < first.total == s.spec.parameter_count()
    assert first.checked <= costs.GRADCHECK_PARAMETERS
    assert [e.index for e in first.entries] == [e.index for e in again.entries]
    assert {e.transition for e in first.entries} == {0, 1}  # every matrix is sampled
    spent = sum(2 * CAP * (20_000 + 500 if e.transition == 0 else 500) for e in first.entries)
    assert spent <= costs.GRADCHECK_MACS
    assert first.max_relative_error < 1e-4


def test_a_slow_step_is_not_started_when_it_would_end_past_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps of 0.3 s and a 2 s budget: the run stops before passing it (checking the
    clock only every 16 steps ran 16 steps, 4.8 s)."""
    now = [100.0]
    monkeypatch.setattr(deadlines, "perf_counter", lambda: now[0])
    spec = validate(NetworkSpec((2, 3, 1)))
    x, y = np.zeros((4, 2)), np.zeros((4, 1))
    trainer = Trainer(spec, x, y)
    real_step, real_all = trainer._step, trainer._all_loss

    def slow_step(*args: Any) -> float:
        now[0] += 0.3
        return real_step(*args)

    def slow_pass() -> float:
        now[0] += 0.1
        return real_all()

    monkeypatch.setattr(trainer, "_step", slow_step)
    monkeypatch.setattr(trainer, "_all_loss", slow_pass)
    params = initialize(spec)
    run = trainer.run(params, new_state(spec.optimizer, flat(params)), Progress(), 100,
                      deadline=now[0] + 2.0)
    assert run.truncated
    assert run.iterations_run >= 1
    assert now[0] - 100.0 <= 2.0 + 0.2


def test_a_step_trains_until_its_deadline_less_the_work_after_training(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(costs.time, "monotonic", lambda: 10.0)
    assert costs.training_seconds(12.0, 2.0, 0.5) == pytest.approx(2.0 - costs.STEP_RESERVE)
    assert costs.training_seconds(10.05, 0.05, 0.001) == pytest.approx(0.045)  # a tenth
    assert costs.training_seconds(12.0, 2.0, 5.0) == pytest.approx(1.85)  # no wait: a step


def test_a_step_whose_budget_went_on_waiting_trains_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for the lock or the training workers took 1.2 s of 2: a step estimated at
    1 s would overrun, so none is taken; a quicker one still is."""
    monkeypatch.setattr(costs.time, "monotonic", lambda: 11.2)
    assert costs.training_seconds(12.0, 2.0, 1.0) is None
    assert costs.training_seconds(12.0, 2.0, 0.1) == pytest.approx(0.8 - costs.STEP_RESERVE)


def test_a_quick_step_is_taken_whatever_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step of a millisecond overruns by no more than that: it is taken."""
    monkeypatch.setattr(costs.time, "monotonic", lambda: 11.0)
    assert costs.training_seconds(10.05, 0.05, 0.001) == 0.0
