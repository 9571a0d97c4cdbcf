"""Two uvicorn replicas sharing one Redis: a session follows the store, not the process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, run_async


@pytest.fixture
def replicas(server_factory: type[Server], tmp_path: Path,
             redis_url: str) -> tuple[Server, Server]:
    """Start replicas A and B on two ports, both with store=redis on the same server."""
    env = {"STORE": "redis", "REDIS_URL": redis_url}
    a = server_factory(tmp_path / "a", env=env)
    b = server_factory(tmp_path / "b", env=env)
    a.start()
    b.start()
    return a, b  # server_factory stops both


def test_a_session_made_on_a_is_read_edited_and_stepped_on_b(
        replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    created = httpx.post(f"{a.url}/api/sessions", json={"example": "origin"})
    assert created.status_code == 201
    sid = created.json()["id"]
    assert httpx.get(f"{b.url}/api/sessions/{sid}").json() == created.json()
    edited = httpx.patch(f"{b.url}/api/sessions/{sid}",
                         json={"optimizer": {"name": "sgd", "learning_rate": 0.25}})
    assert edited.status_code == 200
    stepped = httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"iterations": 3})
    assert stepped.status_code == 200
    assert stepped.json()["step"] == 3
    on_a = httpx.get(f"{a.url}/api/sessions/{sid}").json()
    assert on_a["step"] == 3
    assert on_a["spec"]["optimizer"]["learning_rate"] == 0.25
    export_a = httpx.get(f"{a.url}/api/sessions/{sid}/export").json()
    export_b = httpx.get(f"{b.url}/api/sessions/{sid}/export").json()
    export_a.pop("exported_at")
    export_b.pop("exported_at")
    assert export_a == export_b  # float64 compared exactly, as each replica decodes the blob


async def _steps_across(urls: list[str], session_id: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    clients = [httpx.AsyncClient(base_url=u, timeout=60, limits=limits) for u in urls]
    try:
        replies = await asyncio.gather(*(
            clients[i % len(clients)].post(f"/api/sessions/{session_id}/step",
                                           json={"iterations": 1})
            for i in range(count)))
    finally:
        for c in clients:
            await c.aclose()
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies
                                                        if r.status_code != 200][:3]
    return [r.json()["step"] for r in replies]


def test_64_concurrent_steps_split_across_replicas_end_at_step_64(
        replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    sid = httpx.post(f"{a.url}/api/sessions", json={"example": "origin"}).json()["id"]
    steps = run_async(_steps_across([a.url, b.url], sid, 64))
    assert sorted(steps) == list(range(1, 65))
    assert httpx.get(f"{a.url}/api/sessions/{sid}").json()["step"] == 64
    assert httpx.get(f"{b.url}/api/sessions/{sid}").json()["step"] == 64


def frames(url: str, session_id: str, last_event: str | None = None,
           timeout: float = 30) -> Iterator[dict[str, Any]]:
    """Yield the play frames of a tab's live stream (`Last-Event-ID` makes it a reconnect)."""
    headers = {"Last-Event-ID": last_event} if last_event else {}
    with httpx.stream("GET", f"{url}/s/{session_id}/live", headers=headers,
                      timeout=timeout) as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "frame":
                yield json.loads(line.split(":", 1)[1])


def _play(url: str, session_id: str, acknowledged: list[int], stop: threading.Event) -> None:
    """Watch a playing session's frames as a tab does; record each step a frame showed
    (a frame is sent once its step is saved)."""
    try:
        for frame in frames(url, session_id):
            if "step" in frame:
                acknowledged.append(int(frame["step"]))
            if stop.is_set():
                return
    except httpx.TransportError:
        return  # the replica died: what came before was acknowledged


def test_killing_a_mid_play_loses_no_acknowledged_step_and_b_goes_on(
        replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    sid = httpx.post(f"{a.url}/api/sessions", json={"example": "xor"}).json()["id"]
    assert httpx.post(f"{a.url}/s/{sid}/play", data={"action": "play"}).status_code == 200
    acknowledged: list[int] = []
    stop = threading.Event()
    player = threading.Thread(target=_play, args=(a.url, sid, acknowledged, stop))
    player.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 5 and time.monotonic() < deadline and player.is_alive():
        time.sleep(0.02)
    assert len(acknowledged) >= 5
    a.kill()  # SIGKILL, most likely mid-frame while A holds the session's lock
    stop.set()
    player.join(30)
    assert not player.is_alive()
    assert acknowledged == sorted(acknowledged)
    assert acknowledged[-1] > 0
    on_b = httpx.get(f"{b.url}/api/sessions/{sid}").json()
    assert on_b["step"] >= acknowledged[-1]
    # B goes on: the tab reconnects to B, which trains the still-playing session
    resumed = next(f for f in frames(b.url, sid, last_event="1") if "step" in f)
    assert resumed["step"] > on_b["step"]
    assert httpx.post(f"{b.url}/s/{sid}/play", data={"action": "pause"}).status_code == 200
    paused = httpx.get(f"{b.url}/api/sessions/{sid}").json()["step"]
    stepped = httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"iterations": 1},
                         timeout=30)
    assert stepped.status_code == 200
    assert stepped.json()["step"] == paused + 1


def _steps_seen(url: str, sid: str, seconds: float, seen: list[int]) -> None:
    """Record the steps of a tab's frames for `seconds` (a bounded read)."""
    end = time.monotonic() + seconds
    with contextlib.suppress(httpx.TransportError):
        for frame in frames(url, sid, timeout=seconds + 10):
            if "step" in frame:
                seen.append(int(frame["step"]))
            if time.monotonic() > end:
                return


def test_two_tabs_on_two_replicas_play_one_session_in_step(
        replicas: tuple[Server, Server]) -> None:
    """A tab on A and a tab on B watch one playing session: both see it train, one
    session's steps, and Pause from either stops both."""
    a, b = replicas
    sid = httpx.post(f"{a.url}/api/sessions", json={"example": "origin"}).json()["id"]
    assert httpx.post(f"{a.url}/s/{sid}/play", data={"action": "play"}).status_code == 200
    on_a: list[int] = []
    on_b: list[int] = []
    tabs = [threading.Thread(target=_steps_seen, args=(server.url, sid, 3.0, seen))
            for server, seen in ((a, on_a), (b, on_b))]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(30)
    assert len(on_a) >= 5
    assert len(on_b) >= 5
    assert on_a == sorted(on_a)
    assert on_b == sorted(on_b)
    assert on_a[0] <= on_b[-1], "the tabs showed two trainings"
    assert on_b[0] <= on_a[-1], "the tabs showed two trainings"
    assert httpx.post(f"{b.url}/s/{sid}/play", data={"action": "pause"}).status_code == 200
    stopped = httpx.get(f"{a.url}/api/sessions/{sid}").json()
    assert stopped["step"] >= max(on_a[-1], on_b[-1])
    time.sleep(1.0)
    assert httpx.get(f"{a.url}/api/sessions/{sid}").json()["step"] == stopped["step"]


def _events_seen(url: str, sid: str, seconds: float, seen: list[str]) -> None:
    """Record the kinds of event a tab's stream sends for `seconds` (a bounded read)."""
    end = time.monotonic() + seconds
    with contextlib.suppress(httpx.TransportError), httpx.stream(
            "GET", f"{url}/s/{sid}/live", timeout=seconds + 10) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                seen.append(line.split(":", 1)[1].strip())
            if time.monotonic() > end:
                return


def test_two_tabs_on_two_replicas_play_a_2d_problem_by_frames_alone(
        replicas: tuple[Server, Server]) -> None:
    """A 2-D session played from two replicas: each tab gets frames, and is told to fetch
    its parts afresh only when Play starts, not at every version another replica saved."""
    a, b = replicas
    made = httpx.post(f"{a.url}/new", data={"card": "circle"})
    assert made.status_code in (200, 303), made.text[:200]
    sid = str(made.headers.get("location") or made.headers["hx-redirect"]).split("/s/")[1]
    sid = sid.split("?")[0]
    assert httpx.post(f"{a.url}/s/{sid}/play", data={"action": "play"}).status_code == 200
    on_a: list[str] = []
    on_b: list[str] = []
    tabs = [threading.Thread(target=_events_seen, args=(server.url, sid, 3.0, seen))
            for server, seen in ((a, on_a), (b, on_b))]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(30)
    httpx.post(f"{a.url}/s/{sid}/play", data={"action": "pause"})
    for seen in (on_a, on_b):
        assert seen.count("frame") >= 5, seen
        assert seen.count("changed") <= 1, seen
