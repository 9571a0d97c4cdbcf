"""`backprop-playground serve` on a small, then full, data directory (SQLite).

The data directory is a 2 MiB tmpfs mounted for each test (the tests run as root, as CI
and the container check do). A full disk answers a step 507 `storage_full` and changes
nothing; reads keep answering; `/readyz` answers 503 until space is freed; every
acknowledged step survives a restart.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, run_async

SIZE = "2m"
WAL = "sessions.sqlite3-wal"
BURST = (16, 40)  # sessions stepped at once × steps each


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Yield a directory on a tmpfs of 2 MiB; unmount it afterwards."""
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (these tests need root): {done.stderr}",
                    pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def server(small_disk: Path, server_factory: type[Server]) -> Server:
    """Start the server on the small disk (stopped before the disk is unmounted)."""
    started = server_factory(small_disk)
    started.start()
    return started


class Connection:
    """One keep-alive connection that never silently reconnects."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.http.auto_open = 0
        self.http.connect()
        self.sock = self.http.sock

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send a request and return (status, JSON body), on the same socket as ever."""
        data = None if body is None else json.dumps(body)
        headers = {} if body is None else {"content-type": "application/json"}
        self.http.request(method, path, data, headers)
        resp = self.http.getresponse()
        payload = json.loads(resp.read())
        assert self.http.sock is self.sock  # nothing reopened it
        return resp.status, payload

    def step(self, sid: str) -> tuple[int, Any]:
        return self.call("POST", f"/api/sessions/{sid}/step", {"iterations": 1})

    def close(self) -> None:
        self.http.close()


def _wait_for_an_empty_wal(data: Path, timeout: float = 30.0) -> None:
    """Wait until the server, idle, has truncated its WAL (at rest it holds no space)."""
    deadline = time.monotonic() + timeout
    while (data / WAL).exists() and (data / WAL).stat().st_size > 0:
        assert time.monotonic() < deadline, "the idle WAL was not truncated"
        time.sleep(0.1)


def _fill(data: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = data / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    chunk = b"\xff" * 65536
    try:
        while True:
            os.write(fd, chunk)  # short near the end, then ENOSPC
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return filler


def _stepped_session(conn: Connection, steps: int) -> str:
    """Create the origin's session and step it `steps` times; return its id."""
    status, created = conn.call("POST", "/api/sessions", {"example": "origin"})
    assert status == 201, created
    for k in range(1, steps + 1):
        status, stepped = conn.step(created["id"])
        assert (status, stepped["step"]) == (200, k), stepped
    sid: str = created["id"]
    return sid


def _full(server: Server, steps: int) -> str:
    """Return a session stepped `steps` times on a disk filled afterwards."""
    conn = Connection(server.port)
    try:
        sid = _stepped_session(conn, steps)
    finally:
        conn.close()
    _wait_for_an_empty_wal(server.data_dir)
    _fill(server.data_dir)
    return sid


async def _burst(url: str, sids: list[str]) -> list[int]:
    """Step every session BURST[1] times, all at once; return the statuses."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(sid: str) -> list[int]:
            return [(await client.post(f"/api/sessions/{sid}/step",
                                       json={"iterations": 1})).status_code
                    for _ in range(BURST[1])]

        return [code for codes in await asyncio.gather(*(one(sid) for sid in sids))
                for code in codes]


def test_a_2_mib_data_directory_creates_and_steps_sessions_under_load(server: Server) -> None:
    conn = Connection(server.port)
    try:
        sids = [_stepped_session(conn, 3) for _ in range(BURST[0])]
    finally:
        conn.close()
    codes = run_async(_burst(server.url, sids))
    steps = [httpx.get(f"{server.url}/api/sessions/{sid}").json()["step"] for sid in sids]
    created_2d = httpx.post(f"{server.url}/api/sessions",
                            json={"dataset": {"name": "spiral", "points": 200}})
    assert codes == [200] * (BURST[0] * BURST[1])
    assert steps == [3 + BURST[1]] * BURST[0]
    assert created_2d.status_code == 201, created_2d.text


def test_a_full_disk_refuses_a_step_with_507_and_reads_still_answer(server: Server) -> None:
    sid = _full(server, 3)
    conn = Connection(server.port)
    try:
        refused = conn.step(sid)
        read = conn.call("GET", f"/api/sessions/{sid}")
        ready = conn.call("GET", "/readyz")
        alive = conn.call("GET", "/healthz")
    finally:
        conn.close()
    assert refused[0] == 507
    assert refused[1]["error"]["code"] == "storage_full"
    assert "nothing was changed" in refused[1]["error"]["message"]
    assert (read[0], read[1]["step"]) == (200, 3)
    assert ready[0] == 503
    assert ready[1]["error"]["code"] == "unavailable"
    assert alive == (200, {"status": "ok"})


def test_freed_space_recovers_and_a_restart_keeps_every_acknowledged_step(
        server: Server) -> None:
    sid = _full(server, 3)
    conn = Connection(server.port)
    try:
        assert conn.step(sid)[0] == 507
        assert conn.call("GET", "/readyz")[0] == 503
        (server.data_dir / "filler").unlink()
        status, stepped = conn.step(sid)
        ready = conn.call("GET", "/readyz")
    finally:
        conn.close()
    assert (status, stepped["step"]) == (200, 4)
    assert ready[0] == 200
    server.stop()
    server.start()
    assert httpx.get(f"{server.url}/api/sessions/{sid}").json()["step"] == 4
