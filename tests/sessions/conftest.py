"""Fixtures of the session tests: a real redis-server on 127.0.0.1, without persistence,
`store`: each kind of store in turn, and `training_threads`: where a service trains."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from app.sessions.service import SessionService
from app.sessions.stepping import TrainingRun
from app.sessions.stores import Store
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.redis import RedisStore
from app.sessions.stores.sqlite import SqliteStore
from tests.conftest import free_port

REDIS_START_TIMEOUT = 10.0  # seconds to wait for the first PONG


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Debian's redis-server on a free loopback port; yield its URL; shut it down."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: `apt-get install -y redis-server` "
                    "(.ci/run installs it); the redis store's tests need a real server",
                    pytrace=False)
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning",
         "--logfile", str(workdir / "redis.log")],
        stdin=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_pong(url, proc, workdir)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_pong(url: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    """Return once the server answers PING; fail with its log if it exits or stays silent."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (workdir / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{log}",
                            pytrace=False)
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not answer PING at {url} in time", pytrace=False)
    finally:
        client.close()


MAKERS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "memory": lambda request, tmp_path: MemoryStore(),
    "sqlite": lambda request, tmp_path: SqliteStore(tmp_path / "s.sqlite3", "NORMAL"),
    # a fresh key prefix per test: tests share one server and never see each other's keys
    "redis": lambda request, tmp_path: RedisStore(request.getfixturevalue("redis_url"),
                                                  prefix=f"t{secrets.token_hex(6)}:"),
}


@pytest.fixture(params=list(MAKERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Yield each kind of store in turn (redis: the session's server, a fresh prefix)."""
    s = MAKERS[request.param](request, tmp_path)
    yield s
    s.close()


@pytest.fixture
def training_threads(monkeypatch: pytest.MonkeyPatch) -> Callable[[SessionService], list[int]]:
    """Return a recorder: given a service, it records the thread of each of its training
    runs from then on, in the list it returns."""
    def record(service: SessionService) -> list[int]:
        threads: list[int] = []
        train = service._stepper.train

        def recording(*args: Any, **kwargs: Any) -> TrainingRun:
            threads.append(threading.get_ident())
            return train(*args, **kwargs)

        monkeypatch.setattr(service._stepper, "train", recording)
        return threads

    return record


# ---------------------------------------------------------------------- a Redis of its own
@dataclass
class OwnRedis:
    """A redis-server of this test's own, on a fixed port and directory (restartable)."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (reloading its append-only file) and wait for PONG."""
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed (apt-get install -y redis-server)"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir),
             "--daemonize", "no", "--loglevel", "warning",
             "--logfile", str(self.workdir / "redis.log")], stdin=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        try:
            while True:
                assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
                try:
                    if client.ping():
                        return
                except redis.RedisError:  # not listening yet, or still loading its file
                    pass
                assert time.monotonic() < deadline, "redis-server did not answer PING"
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def config(self, name: str, value: str) -> None:
        """Set one of the server's settings (CONFIG SET)."""
        with redis.Redis(port=self.port) as client:
            client.config_set(name, value)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """Yield a running redis-server of this test's own; kill it afterwards."""
    server = OwnRedis(tmp_path, free_port())
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)  # a stopped server cannot die
        server.kill()
