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
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numpy.typing import NDArray

from app.engine.optimizers import OptimizerState
from app.engine.params import Parameters
from app.engine.spec import NetworkSpec
from app.engine.train import Progress, RunResult, Trainer

Array = NDArray[np.float64]

_pool: ProcessPoolExecutor | None = None
_guard = threading.Lock()


def run(spec: NetworkSpec, inputs: Array, targets: Array, params: Parameters,
        state: OptimizerState, progress: Progress, iterations: int,
        budget: float) -> RunResult:
    """Train in this process until `iterations` or `budget` seconds (the worker's entry)."""
    deadline = time.perf_counter() + budget
    return Trainer(spec, inputs, targets).run(params, state, progress, iterations, deadline)


def train(spec: NetworkSpec, inputs: Array, targets: Array, params: Parameters,
          state: OptimizerState, progress: Progress, iterations: int, budget: float,
          offload: bool, workers: int) -> RunResult:
    """Train inline, or in a worker process when `offload` (a long run)."""
    if not offload:
        return run(spec, inputs, targets, params, state, progress, iterations, budget)
    return _get_pool(workers).submit(run, spec, inputs, targets, params, state, progress,
                                     iterations, budget).result()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    """Return the process's worker pool, started on first use (spawned: safe with threads)."""
    global _pool
    with _guard:
        if _pool is None:
            size = max(1, min(workers, os.cpu_count() or 1))
            _pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"))
            atexit.register(shutdown)
        return _pool


def shutdown() -> None:
    """Stop the worker processes (at exit, or when the app shuts down)."""
    global _pool
    with _guard:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
