"""Long training runs in worker processes, so one busy session cannot starve the others.

The engine's fast path is Python-bound for small networks: run in a request thread it
holds the GIL, and every other request of the process waits behind it (a 1-iteration
step's p99 went from ~80 ms to ~1 s beside a session running 100,000-iteration steps).
A long run is sent to a small pool of worker processes instead; the request thread keeps
the session's lock and waits on the result with the GIL released. Short runs stay inline:
the round trip (pickling the arrays both ways) costs about a millisecond.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numpy.typing import NDArray

from app.engine.optimizers import OptimizerState
from app.engine.params import Parameters
from app.engine.spec import NetworkSpec
from app.engine.train import Progress, RunResult, Trainer

Array = NDArray[np.float64]

WORKER_NICENESS = 10  # the training workers' niceness above the server's
TRAINER_FLOATS = 4_000_000  # buffers of kept trainers, at most (32 MB of float64)

_pool: ProcessPoolExecutor | None = None
_guard = threading.Lock()


class TrainerPool:
    """Trainers kept for reuse: making one allocates its buffers and costs as much as a
    short step. A trainer is found by its spec and the very array objects of its data (a
    session's arrays are replaced, never changed in place); it is taken out while it
    trains, so two threads never share one. Bounded by the floats its buffers hold."""

    def __init__(self, max_floats: int = TRAINER_FLOATS) -> None:
        self.max_floats = max_floats
        # (id of spec, inputs, targets) -> (trainer, inputs, targets, floats); the entry
        # holds the objects, so their ids cannot be reused while it is kept
        self._kept: OrderedDict[tuple[int, int, int], tuple[Trainer, Array, Array, int]] = (
            OrderedDict())
        self._floats = 0
        self._guard = threading.Lock()

    def take(self, spec: NetworkSpec, inputs: Array, targets: Array) -> Trainer:
        """Return a trainer for this spec and data: a kept one, or a new one."""
        with self._guard:
            entry = self._kept.pop((id(spec), id(inputs), id(targets)), None)
            if entry is not None:
                self._floats -= entry[3]
        if entry is not None:
            return entry[0]
        return Trainer(spec, inputs, targets)

    def give_back(self, trainer: Trainer, inputs: Array, targets: Array) -> None:
        """Keep the trainer for the next run on the same spec and data."""
        size = trainer.floats()
        if size > self.max_floats:
            return
        key = (id(trainer.spec), id(inputs), id(targets))
        with self._guard:
            old = self._kept.pop(key, None)
            if old is not None:
                self._floats -= old[3]
            self._kept[key] = (trainer, inputs, targets, size)  # holds the arrays: ids stay
            self._floats += size
            while self._floats > self.max_floats:
                _, (_, _, _, dropped) = self._kept.popitem(last=False)
                self._floats -= dropped


_trainers = TrainerPool()


def run(spec: NetworkSpec, inputs: Array, targets: Array, params: Parameters,
        state: OptimizerState, progress: Progress, iterations: int,
        budget: float, until: float | None = None) -> RunResult:
    """Train in this process until `iterations` or `budget` seconds (the worker's entry),
    and in any case by `until` (a `time.monotonic()` time, system-wide on Linux: a run
    handed to a worker counts the wait for it — a pool starting, a queue — against its
    budget, rather than starting its budget when it finally runs)."""
    left = budget if until is None else min(budget, until - time.monotonic())
    deadline = time.perf_counter() + max(0.0, left)  # one step is always taken
    trainer = _trainers.take(spec, inputs, targets)
    result = trainer.run(params, state, progress, iterations, deadline)
    _trainers.give_back(trainer, inputs, targets)
    return result


def train(spec: NetworkSpec, inputs: Array, targets: Array, params: Parameters,
          state: OptimizerState, progress: Progress, iterations: int, budget: float,
          offload: bool, workers: int) -> RunResult:
    """Train inline, or in a worker process when `offload` (a long run)."""
    if not offload:
        return run(spec, inputs, targets, params, state, progress, iterations, budget)
    until = time.monotonic() + budget  # before the pool starts or the run waits its turn
    return _get_pool(workers).submit(run, spec, inputs, targets, params, state, progress,
                                     iterations, budget, until).result()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    """Return the process's worker pool, started on first use (spawned: safe with threads)."""
    global _pool
    with _guard:
        if _pool is None:
            size = max(1, min(workers, os.cpu_count() or 1))
            _pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_yield_to_requests)
            atexit.register(shutdown)
        return _pool


def _yield_to_requests() -> None:
    """Lower the worker's priority (nice +`WORKER_NICENESS`): when the cores are busy, the
    scheduler serves the request threads first, and a long run takes what is left.

    Beside a session running 100,000-iteration steps, the p99 of other sessions' 1-iteration
    steps fell from ~160 ms to ~65 ms (`python -m bench api`); the long run loses iterations
    only while the server is busy, and it stops at the same time budget either way.
    """
    with contextlib.suppress(OSError):  # a platform without nice: run as we are
        os.nice(WORKER_NICENESS)


def shutdown() -> None:
    """Stop the worker processes (at exit, or when the app shuts down)."""
    global _pool
    with _guard:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
