"""The live stream's turns (`play.tick`, `play._stream`) on a service, without a server:
what each turn sends, and where a frame is built."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.sessions.errors import ServiceError
from app.sessions.service import SessionService
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings
from app.web import play
from app.web.preferences import Prefs
from tests.conftest import run_async


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SessionService]:
    made = SessionService(SqliteStore(tmp_path / "s.sqlite3", "FULL"), Settings(store="sqlite"))
    yield made
    made.store.close()


def _playing(service: SessionService, body: dict[str, Any]) -> str:
    sid = service.create(body).id
    service.set_playing(sid, True)
    return sid


def _turns(service: SessionService, tab: play.Tab,
           count: int) -> tuple[list[list[str]], int]:
    """Run `count` turns of the tab's stream (no gap between frames); return the kinds of
    event each sent, and the event loop's thread."""
    async def main() -> tuple[list[list[str]], int]:
        sent = []
        for _ in range(count):
            events, _ = await play.tick(service, tab)
            sent.append([str(e.event) for e in events])
        return sent, threading.get_ident()

    return run_async(main())


def _ticks(service: SessionService, tab: play.Tab, count: int) -> list[list[str]]:
    return _turns(service, tab, count)[0]


def _frame_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    threads: list[int] = []
    build = play.frame

    def recording(*args: Any) -> dict[str, Any]:
        threads.append(threading.get_ident())
        return build(*args)

    monkeypatch.setattr(play, "frame", recording)
    return threads


@pytest.fixture(autouse=True)
def no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every turn finds a frame due (the gap is a share of the interval)."""
    monkeypatch.setattr(play, "FRAME_SECONDS", 0.0)


def test_an_origin_frame_is_built_on_the_event_loop(
        service: SessionService, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = _playing(service, {"example": "origin"})
    threads = _frame_threads(monkeypatch)
    sent, loop_thread = _turns(service, play.Tab(sid, Prefs(), resume=True), 2)
    assert sent[-1] == ["frame"]
    assert threads
    assert set(threads) == {loop_thread}


def test_a_large_table_s_frame_is_built_in_a_worker_thread(
        service: SessionService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its forward pass over every row would hold every other tab of the worker."""
    rng = np.random.default_rng(9)
    inputs = rng.normal(size=(200, 2))
    sid = _playing(service, {"layers": [2, 300, 300, 1], "inputs": inputs.tolist(),
                             "targets": np.tanh(inputs[:, :1]).tolist()})
    threads = _frame_threads(monkeypatch)
    sent, loop_thread = _turns(service, play.Tab(sid, Prefs(), resume=True), 2)
    assert "frame" in sent[-1]
    assert threads
    assert loop_thread not in threads


def test_undo_while_playing_tells_the_tab_to_fetch_its_parts(service: SessionService) -> None:
    """The step went back: frames would only ever add loss points past the newest."""
    sid = _playing(service, {"example": "origin"})
    tab = play.Tab(sid, Prefs(), resume=True)
    assert _ticks(service, tab, 3)[-1] == ["frame"]
    assert tab.step is not None
    assert tab.step > 0
    undone = service.undo(sid)
    assert undone.playing
    assert undone.progress.step < tab.step
    assert "changed" in _ticks(service, tab, 1)[0]


def test_a_busy_session_keeps_its_stream_open(
        service: SessionService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock held long (503) is not a deleted session: the stream says nothing and
    goes on; a deleted one is told "gone" and ends."""
    sid = _playing(service, {"example": "origin"})
    real_get, calls = service.get, [0]

    def busy_once(session_id: str) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise ServiceError(503, "busy", "The session is busy.")
        return real_get(session_id)

    monkeypatch.setattr(service, "get", busy_once)
    monkeypatch.setattr(play, "IDLE_SECONDS", 0.0)

    async def main() -> list[str]:
        stream = play._stream(service, play.Tab(sid, Prefs(), resume=True))
        kinds = []
        async for event in stream:
            kinds.append(str(event.event))
            if event.event == "frame":
                service.delete(sid)
            if event.event == "gone" or len(kinds) > 20:
                break
        await stream.aclose()
        return kinds

    kinds = run_async(main())
    assert "frame" in kinds
    assert kinds[-1] == "gone"
    assert kinds.index("frame") < kinds.index("gone")
