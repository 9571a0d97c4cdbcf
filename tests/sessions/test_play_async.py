"""`SessionService.play_frame_async`: a quick frame trains on the event loop; a frame whose
single iteration is long trains in a worker thread, whatever its time budget."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.sessions.service import SessionService, StepOutcome
from app.sessions.stepping import trains_on_loop as quick
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings
from tests.conftest import run_async

Recorder = Callable[[SessionService], list[int]]  # the `training_threads` fixture

SLICE = 0.0005  # a frame's training at 1× (app/web/play.py's PLAY_SLICE)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SessionService]:
    made = SessionService(SqliteStore(tmp_path / "s.sqlite3", "FULL"), Settings(store="sqlite"))
    yield made
    made.store.close()



def _frame_on_loop(service: SessionService, sid: str) -> tuple[StepOutcome | None, int]:
    async def main() -> tuple[StepOutcome | None, int]:
        outcome = await service.play_frame_async(sid, lambda s: SLICE, 0.0)
        return outcome, threading.get_ident()

    return run_async(main())


def _playing(service: SessionService, body: dict[str, Any]) -> str:
    sid = service.create(body).id
    service.set_playing(sid, True)
    service.get(sid)  # kept by this process, as a session a tab watches is
    return sid


def test_a_frame_of_the_origin_trains_on_the_event_loop_thread(
        service: SessionService, training_threads: Recorder) -> None:
    sid = _playing(service, {"example": "origin"})
    threads = training_threads(service)
    outcome, loop_thread = _frame_on_loop(service, sid)
    assert outcome is not None
    assert outcome.session.progress.step > 0
    assert threads == [loop_thread]


def test_a_frame_whose_one_iteration_is_long_trains_in_a_worker_thread(
        service: SessionService, training_threads: Recorder) -> None:
    """A table of 200 rows on a 2-300-300-1 net: one iteration is far over a millisecond,
    so even a frame of one iteration would block every other tab on the loop."""
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(200, 2))
    sid = _playing(service, {"layers": [2, 300, 300, 1], "inputs": inputs.tolist(),
                             "targets": np.tanh(inputs[:, :1]).tolist()})
    assert not quick(service.get(sid), 1)
    threads = training_threads(service)
    outcome, loop_thread = _frame_on_loop(service, sid)
    assert outcome is not None
    assert outcome.session.progress.step >= 1
    assert len(threads) == 1
    assert threads[0] != loop_thread
