"""`SessionService.step_async`: quick steps on the event loop, the rest in a thread, one result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService, StepOutcome
from app.sessions.stepping import trains_on_loop as quick
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings
from tests.conftest import run_async

Recorder = Callable[[SessionService], list[int]]  # the `training_threads` fixture

DIVERGING = {"layers": [1, 1], "output_activation": "linear",
             "optimizer": {"learning_rate": 10.0},
             "inputs": [[3.0], [4.0]], "targets": [[1.0], [2.0]]}
SPIRAL = {"dataset": {"name": "spiral", "points": 90, "noise": 0.35, "seed": 11}}


class ThreadOnlyStore(MemoryStore):
    """A store like redis: its changes may not run on the event loop."""

    inline = False

    def lock_async(self, session_id: str, timeout: float) -> Any:
        raise AssertionError("a store that is not inline was locked from the loop")

    async def save_async(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
                         version: int = 0) -> None:
        raise AssertionError("a store that is not inline was saved from the loop")


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., SessionService]]:
    """Yield a factory of services on the SQLite file in tmp_path (or on `store`); every
    store made is closed afterwards."""
    made: list[SessionService] = []

    def make(store: Any = None, **limits: Any) -> SessionService:
        name = "sqlite" if store is None else "memory"
        store = store or SqliteStore(tmp_path / "s.sqlite3", "FULL")
        service = SessionService(store, Settings(store=name, **limits))
        made.append(service)
        return service

    yield make
    for service in made:
        service.store.close()


def _params(s: Session) -> list[bytes]:
    return [t.weights.tobytes() + t.biases.tobytes() for t in s.parameters]


def _result(outcome: StepOutcome) -> tuple[Any, ...]:
    s = outcome.session
    return (_params(s), s.progress.step, s.version, s.loss, outcome.iterations_run,
            outcome.truncated)


def _refusal(call: Callable[[], Any]) -> tuple[Any, ...]:
    with pytest.raises(ServiceError) as err:
        call()
    return err.value.status, err.value.code, err.value.field, err.value.limit



def _step_on_loop(service: SessionService, session_id: str,
                  iterations: int) -> tuple[StepOutcome, int]:
    """Run `step_async` in a fresh event loop; return its outcome and the loop's thread."""
    async def main() -> tuple[StepOutcome, int]:
        return await service.step_async(session_id, iterations), threading.get_ident()

    return run_async(main())


# ---------------------------------------------------------------------- quick
def test_one_iteration_of_the_origin_is_quick(make_service: Callable[..., SessionService]) -> None:
    assert quick(make_service().create({"example": "origin"}), 1) is True


def test_a_thousand_iterations_of_a_2_64_64_1_network_on_500_rows_are_not_quick(
        make_service: Callable[..., SessionService]) -> None:
    body = {"layers": [2, 64, 64, 1],
            "inputs": [[i / 500, (i % 7) / 7] for i in range(500)],
            "targets": [[float(i % 2)] for i in range(500)]}
    assert quick(make_service().create(body), 1000) is False


def test_a_diverged_session_is_quick_whatever_the_iterations(
        make_service: Callable[..., SessionService]) -> None:
    service = make_service()
    s = service.create(DIVERGING)
    assert quick(s, 5000) is False
    diverged = service.step(s.id, 5000).session
    assert diverged.status == "diverged"
    assert quick(diverged, 5000) is True


# ---------------------------------------------------------------------- same result
@pytest.mark.parametrize(("body", "iterations", "on_loop"), [
    ({"example": "origin"}, 5, True), ({"example": "origin"}, 100, False),
    (SPIRAL, 10, True), (SPIRAL, 100, False)],
    ids=["origin-quick", "origin-long", "spiral-quick", "spiral-long"])
def test_step_async_matches_step_bit_for_bit(make_service: Callable[..., SessionService],
                                             body: dict[str, Any], iterations: int,
                                             on_loop: bool) -> None:
    service = make_service()
    a, b = service.create(body), service.create(body)
    assert quick(a, iterations) is on_loop
    stepped_async, _ = _step_on_loop(service, a.id, iterations)
    stepped = service.step(b.id, iterations)
    assert _result(stepped_async) == _result(stepped)
    assert _params(service.get(a.id)) == _params(service.get(b.id))


def test_a_quick_step_trains_on_the_event_loop_thread(
        make_service: Callable[..., SessionService], training_threads: Recorder) -> None:
    service = make_service()
    sid = service.create({"example": "origin"}).id
    threads = training_threads(service)
    _, loop_thread = _step_on_loop(service, sid, 1)
    assert threads == [loop_thread]


def test_a_long_step_trains_in_a_worker_thread(
        make_service: Callable[..., SessionService], training_threads: Recorder) -> None:
    service = make_service()
    sid = service.create({"example": "origin"}).id
    threads = training_threads(service)
    outcome, loop_thread = _step_on_loop(service, sid, 100)
    assert outcome.session.progress.step == 100
    assert len(threads) == 1
    assert threads[0] != loop_thread


def test_a_session_this_process_has_not_read_yet_steps_in_a_worker_thread(
        make_service: Callable[..., SessionService], training_threads: Recorder) -> None:
    sid = make_service().create({"example": "origin"}).id
    other = make_service()  # another worker on the same file: nothing kept yet
    threads = training_threads(other)
    outcome, loop_thread = _step_on_loop(other, sid, 1)
    assert outcome.session.progress.step == 1
    assert len(threads) == 1
    assert threads[0] != loop_thread


def test_a_store_that_is_not_inline_steps_in_a_worker_thread(
        make_service: Callable[..., SessionService], training_threads: Recorder) -> None:
    service = make_service(ThreadOnlyStore())
    a, b = service.create({"example": "origin"}), service.create({"example": "origin"})
    threads = training_threads(service)
    outcome, loop_thread = _step_on_loop(service, a.id, 1)
    assert len(threads) == 1
    assert threads[0] != loop_thread
    assert _result(outcome) == _result(service.step(b.id, 1))


def test_a_quick_step_is_committed_for_other_workers_when_step_async_returns(
        make_service: Callable[..., SessionService]) -> None:
    service = make_service()
    sid = service.create({"example": "origin"}).id
    outcome, _ = _step_on_loop(service, sid, 3)
    reader = make_service()  # another worker on the same file
    assert reader.get(sid).progress.step == 3
    assert reader.store.version(sid) == outcome.session.version


# ---------------------------------------------------------------------- concurrency
def test_concurrent_quick_steps_on_one_sqlite_session_each_get_their_own_step_and_version(
        make_service: Callable[..., SessionService]) -> None:
    service = make_service()
    s = service.create({"example": "origin"})

    async def main() -> list[StepOutcome]:
        return list(await asyncio.gather(*(service.step_async(s.id, 1) for _ in range(32))))

    outcomes = run_async(main())
    assert sorted(o.session.progress.step for o in outcomes) == list(range(1, 33))
    assert sorted(o.session.version for o in outcomes) == list(range(s.version + 1,
                                                                     s.version + 33))
    assert make_service().get(s.id).progress.step == 32  # as another worker reads the file


# ---------------------------------------------------------------------- refusals
def test_a_stale_if_match_is_refused_with_412_as_step_refuses_it(
        make_service: Callable[..., SessionService]) -> None:
    service = make_service()
    s = service.create({"example": "origin"})
    service.step(s.id, 1)
    refused = _refusal(lambda: run_async(service.step_async(s.id, 1, s.version)))
    assert refused == (412, "stale", "If-Match", s.version + 1)
    assert refused == _refusal(lambda: service.step(s.id, 1, s.version))
    assert service.get(s.id).progress.step == 1


@pytest.mark.parametrize("session_id", ["x" * 22, "not-an-id"])
def test_an_unknown_session_is_404(make_service: Callable[..., SessionService],
                                   session_id: str) -> None:
    service = make_service()
    assert _refusal(lambda: run_async(service.step_async(session_id, 1)))[:2] == (
        404, "not_found")


def test_a_session_deleted_by_another_worker_is_404_though_still_kept(
        make_service: Callable[..., SessionService]) -> None:
    service = make_service()
    sid = service.create({"example": "origin"}).id
    make_service().delete(sid)
    assert service._cache.peek(sid) is not None  # still kept here: the loop path
    assert _refusal(lambda: run_async(service.step_async(sid, 1)))[:2] == (404, "not_found")


@pytest.mark.parametrize(("max_iterations", "iterations", "on_loop"),
                         [(5, 6, True), (50, 60, False)], ids=["on-the-loop", "in-a-thread"])
def test_iterations_over_the_limit_are_refused_with_422_naming_iterations(
        make_service: Callable[..., SessionService], max_iterations: int, iterations: int,
        on_loop: bool) -> None:
    service = make_service(max_iterations=max_iterations)
    s = service.create({"example": "origin"})
    assert quick(s, iterations) is on_loop
    refused = _refusal(lambda: run_async(service.step_async(s.id, iterations)))
    assert refused == (422, "limit_exceeded", "iterations", max_iterations)
    assert refused == _refusal(lambda: service.step(s.id, iterations))
    assert service.get(s.id).version == s.version
