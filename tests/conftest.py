"""Fixtures shared by every test package: a real uvicorn server on 127.0.0.1, and a way
to run a coroutine from any test."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Return `asyncio.run(main)`, run on a thread of its own when this thread already runs
    an event loop: Playwright's sync API keeps one running once a browser test started, so
    the order the test packages run in does not matter."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main).result()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`backprop-playground serve` (uvicorn) in a subprocess; restartable on the same data
    directory."""

    data_dir: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start uvicorn and wait until /healthz answers."""
        env = {**os.environ, "STORE": "sqlite", "DATA_DIR": str(self.data_dir),
               "CREATE_RATE": "0", **self.env}  # tests create many sessions from one address
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--workers", str(self.workers), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("uvicorn did not answer /healthz in time")

    def kill(self) -> None:
        """SIGKILL the whole process group (the workers too): no graceful shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM the process group and wait."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[Server]]:
    """Yield a factory of servers; every server started is stopped afterwards."""
    started: list[Server] = []

    class Tracked(Server):
        def start(self, timeout: float = 30.0) -> None:
            started.append(self)
            super().start(timeout)

    yield Tracked
    for s in started:
        s.stop()
