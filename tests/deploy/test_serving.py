"""`backprop-playground serve` with several workers: each worker listens on its own socket,
so connections opened at once are spread over the workers (`app/serving.py`; Linux, as
CI and the image are)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest
from uvicorn.config import STARTUP_FAILURE

from app import serving
from app.settings import Settings
from tests.conftest import ROOT, Server, run_async

CONNECTIONS = 16
BURSTS = 6

def _sockets(port: int, state: str) -> set[str]:
    """Return the inodes of the sockets on local `port` in `state` (01: an established
    connection, server side; 0A: listening)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _wait_listening(port: int, count: int, timeout: float = 30.0) -> None:
    """Wait until `count` sockets listen on `port` (every worker started)."""
    deadline = time.monotonic() + timeout
    while len(_sockets(port, "0A")) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sockets listen on {port}"
        time.sleep(0.05)


def _connections_by_worker(server: Server) -> dict[int, int]:
    """Return how many of the server's established connections each worker holds."""
    assert server.proc is not None
    inodes = _sockets(server.port, "01")
    workers = [int(pid) for task in Path(f"/proc/{server.proc.pid}/task").glob("*/children")
               for pid in task.read_text().split()]
    held = {}
    for pid in workers:
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            found = re.fullmatch(r"socket:\[(\d+)\]", target)
            count += bool(found and found.group(1) in inodes)
        held[pid] = count
    return held


def _handed_to_a_worker(sock: socket.socket) -> socket.socket:
    """Return what a worker process gets for `sock` (as multiprocessing pickles it)."""
    buffer = io.BytesIO()
    ForkingPickler(buffer).dump(sock)
    worker: socket.socket = ForkingPickler.loads(buffer.getvalue())
    return worker


async def _open_at_once(port: int) -> list[asyncio.StreamWriter]:
    """Open CONNECTIONS keep-alive connections in one burst; answer a request on each."""
    pairs = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                   for _ in range(CONNECTIONS)))
    for _, writer in pairs:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for reader, _ in pairs:
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    return [writer for _, writer in pairs]


def test_two_workers_each_hold_some_of_sixteen_connections_opened_at_once(
        server_factory: type[Server], tmp_path: Path) -> None:
    server = server_factory(tmp_path, workers=2)
    server.start()  # answers once one worker does
    _wait_listening(server.port, 2)

    async def burst() -> dict[int, int]:
        writers = await _open_at_once(server.port)
        held = _connections_by_worker(server)
        for writer in writers:
            writer.close()
            await writer.wait_closed()
        return held

    for _ in range(BURSTS):
        held = run_async(burst())
        # the kernel hashes each connection to a worker's socket: all 16 on one worker has
        # p = 2⁻¹⁵ (the supervisor's other child, multiprocessing's resource tracker,
        # holds none); one shared socket put a burst on one worker about one time in four
        assert sum(held.values()) == CONNECTIONS
        assert all(count > 0 for count in sorted(held.values())[-2:])


def test_a_worker_receives_a_socket_of_its_own_on_the_parents_address() -> None:
    config = serving.SpreadConfig("app.main:create_app", factory=True, host="127.0.0.1",
                                  port=0, workers=2, log_config=None)
    parent = config.bind_socket()
    worker = _handed_to_a_worker(parent)
    try:
        assert worker.getsockname() == parent.getsockname()
        assert worker.fileno() != parent.fileno()
        assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        worker.listen()
        with socket.create_connection(parent.getsockname(), timeout=5):
            accepted, _ = worker.accept()  # the worker's socket gets the connection
            accepted.close()
    finally:
        worker.close()
        parent.close()


def test_one_worker_serves_as_uvicorn_does(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(serving.uvicorn, "run", lambda app, **options: calls.append(
        (app, options)))
    serving.run("app.main:create_app", factory=True, workers=1, port=0)
    serving.run("app.main:create_app", factory=True, workers=2, reload=True, port=0)
    assert [options["workers"] for _, options in calls] == [1, 2]


def test_serve_refuses_an_unknown_log_level() -> None:
    from app.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--log-level", "loud"])
    assert build_parser().parse_args(["serve", "--log-level", "warning"]).log_level == (
        "warning")


def test_a_port_another_server_listens_on_is_refused_not_shared() -> None:
    config = serving.SpreadConfig("app.main:create_app", factory=True, host="127.0.0.1",
                                  port=0, workers=2, log_config=None)
    first = config.bind_socket()
    worker = _handed_to_a_worker(first)
    worker.listen()
    try:
        again = serving.SpreadConfig("app.main:create_app", factory=True, host="127.0.0.1",
                                     port=first.getsockname()[1], workers=2, log_config=None)
        with pytest.raises(SystemExit) as refused:
            again.bind_socket()
        assert refused.value.code == STARTUP_FAILURE
    finally:
        worker.close()
        first.close()


def test_a_worker_that_cannot_bind_ends_as_a_failed_start(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: nobody may share it
    taken.listen()
    try:
        code = subprocess.run(
            [sys.executable, "-c", "import sys; from app.serving import _worker_socket; "
             f"_worker_socket(2, ('127.0.0.1', {taken.getsockname()[1]}))"],
            cwd=ROOT, capture_output=True, timeout=60).returncode
    finally:
        taken.close()
    assert code == STARTUP_FAILURE  # uvicorn's supervisor does not restart such a worker


def test_log_level_is_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert Settings().log_level == "warning"
