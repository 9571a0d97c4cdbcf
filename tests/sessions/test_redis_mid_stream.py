"""Redis killed while a session plays, with a tab's live stream open on a real server: the
stream stays open (no traceback, no 500), requests meanwhile answer 503 `unavailable`,
and once Redis is back on its port the same stream carries frames again and every
acknowledged step is still there (Redis's append-only file, fsynced at every write)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.sessions.conftest import OwnRedis

JSON = {"Content-Type": "application/json"}
WAIT_SECONDS = 60.0  # a ceiling for frames to come (they come within milliseconds)
Lines = queue.Queue[str | None]  # the stream's lines; None once it closed


@pytest.fixture
def served(own_redis: OwnRedis, tmp_path: Path) -> Iterator[Server]:
    """Yield `backprop-playground serve` on the Redis store of `own_redis`."""
    server = Server(tmp_path / "data", env={"STORE": "redis", "REDIS_URL": own_redis.url})
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _listen(url: str, lines: Lines) -> None:
    """Put each line of the event stream at `url` on `lines`, then None when it closes."""
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(5.0, read=None)) as resp:
            lines.put(f"status {resp.status_code}")
            for line in resp.iter_lines():
                lines.put(line)
    except httpx.TransportError as err:
        lines.put(f"transport error {err!r}")
    lines.put(None)


def _next_frame(lines: Lines) -> None:
    """Wait for the stream's next frame; fail if it closes first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        assert line is not None, "the live stream was closed"
        assert not line.startswith("transport error"), line
        if line == "event: frame":
            return


def _drain(lines: Lines) -> None:
    while True:
        try:
            assert lines.get_nowait() is not None, "the live stream was closed"
        except queue.Empty:
            return


def test_a_live_stream_rides_out_redis_killed_while_it_plays(
        served: Server, own_redis: OwnRedis) -> None:
    api = httpx.Client(base_url=served.url, timeout=30.0)
    sid = api.post("/api/sessions", json={"example": "origin"}).json()["id"]
    lines: Lines = queue.Queue()
    threading.Thread(target=_listen, args=(f"{served.url}/s/{sid}/live", lines),
                     daemon=True).start()
    assert lines.get(timeout=WAIT_SECONDS) == "status 200"
    assert api.post(f"/s/{sid}/play", data={"action": "play"}).status_code == 200
    _next_frame(lines)

    own_redis.kill()
    down = api.post(f"/api/sessions/{sid}/step", json={"iterations": 1}, headers=JSON)
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "unavailable"
    assert "retry-after" in down.headers

    own_redis.start()
    _drain(lines)  # what the stream sent before and while Redis was down
    _next_frame(lines)  # the same stream plays on
    kept = api.get(f"/api/sessions/{sid}")
    assert kept.status_code == 200
    assert kept.json()["step"] > 0
    assert served.proc is not None
    assert served.proc.poll() is None  # the server never fell over
    api.close()
