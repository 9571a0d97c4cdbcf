"""Where training runs: kept trainers reused safely, long runs in low-priority workers."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from app.engine import examples
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.train import Progress, Trainer
from app.sessions import training

ORIGIN = examples.build("origin")
SPEC, X, Y = ORIGIN.spec, ORIGIN.inputs, ORIGIN.targets


def test_a_kept_trainer_is_reused_for_the_same_objects_only() -> None:
    pool = training.TrainerPool()
    first = pool.take(SPEC, X, Y)
    pool.give_back(first, X, Y)
    assert pool.take(SPEC, X, Y) is first
    pool.give_back(first, X, Y)
    assert pool.take(SPEC, X.copy(), Y) is not first  # equal data, other objects
    assert pool.take(SPEC, X, Y) is first
    assert pool.take(SPEC, X, Y) is not first  # taken: a second user gets its own


def test_the_pool_is_bounded_by_the_floats_its_trainers_hold() -> None:
    size = Trainer(SPEC, X, Y).floats()
    pool = training.TrainerPool(max_floats=2 * size)
    kept = []
    for _ in range(3):
        xs = X.copy()  # new objects: three different keys
        trainer = pool.take(SPEC, xs, Y)
        pool.give_back(trainer, xs, Y)
        kept.append((trainer, xs))
    assert pool.take(SPEC, kept[0][1], Y) is not kept[0][0]  # the oldest went
    assert pool.take(SPEC, kept[2][1], Y) is kept[2][0]


def test_threads_training_on_shared_data_match_training_alone() -> None:
    params = ORIGIN.parameters
    state = new_state(SPEC.optimizer, flat(params))
    alone = training.run(SPEC, X, Y, params, state, Progress(), 500, 60.0)
    results = []

    def train() -> None:
        results.append(training.run(SPEC, X, Y, params, state, Progress(), 500, 60.0))

    threads = [threading.Thread(target=train) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4
    for run in results:
        assert run.progress.step == 500
        for a, b in zip(run.parameters, alone.parameters, strict=True):
            assert np.array_equal(a.weights, b.weights)
            assert np.array_equal(a.biases, b.biases)


def test_long_runs_train_at_a_lower_priority_than_the_server() -> None:
    pool = training._get_pool(1)
    niceness = pool.submit(os.nice, 0).result(timeout=60)
    assert niceness == min(19, os.nice(0) + training.WORKER_NICENESS)


def test_a_run_whose_deadline_passed_while_it_waited_takes_one_step_only() -> None:
    """A run handed to a worker counts its wait (the pool starting, a queue) against its
    budget: past its deadline when it starts, it takes the one step every run takes."""
    params, state = ORIGIN.parameters, new_state(SPEC.optimizer, ORIGIN.parameters)
    late = training.run(SPEC, X, Y, params, state, Progress(0, 0, 0), 10_000, budget=60.0,
                        until=time.monotonic() - 1.0)
    assert late.iterations_run == 1
    assert late.truncated
    on_time = training.run(SPEC, X, Y, params, state, Progress(0, 0, 0), 50, budget=60.0,
                           until=time.monotonic() + 60.0)
    assert on_time.iterations_run == 50


def test_a_run_handed_to_a_worker_carries_its_deadline_from_before_it_waits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`train(offload=True)` fixes the run's deadline when it is called, before the pool
    starts or the run queues: the worker gets it as `until`."""
    sent: list[tuple[Any, ...]] = []

    class Recording:
        def submit(self, fn: Any, *args: Any) -> Future[Any]:
            sent.append(args)
            done: Future[Any] = Future()
            done.set_result(None)
            return done

    monkeypatch.setattr(training, "_get_pool", lambda _workers: Recording())
    params, state = ORIGIN.parameters, new_state(SPEC.optimizer, ORIGIN.parameters)
    before = time.monotonic()
    training.train(SPEC, X, Y, params, state, Progress(0, 0, 0), 100, 2.0, offload=True,
                   workers=1)
    after = time.monotonic()
    budget, until = sent[0][-2:]
    assert budget == 2.0
    assert before + 2.0 <= until <= after + 2.0
