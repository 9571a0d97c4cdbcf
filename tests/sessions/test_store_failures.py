"""A store that fails: no answer → 503 `unavailable` with Retry-After, no space → 507
`storage_full`; never a 500, and nothing acknowledged is lost.

Redis tests run a redis-server of their own (killed, stopped or filled here, never the
shared one of conftest.py), with an append-only file fsynced at every write, so a server
killed and started again on the same port still holds what it acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.sessions.errors import StorageFull, StoreUnavailable
from app.sessions.stores import sqlite as sqlite_module
from app.sessions.stores import sqlite_wal
from app.sessions.stores.redis import RedisStore
from app.sessions.stores.sqlite import SqliteStore
from app.settings import Settings
from tests.conftest import run_async
from tests.sessions.conftest import OwnRedis

SID = "f" * 22
ANSWER_SECONDS = 10.0  # a failing store must still be answered within this (generous)


@pytest.fixture
def redis_client(own_redis: OwnRedis) -> Iterator[TestClient]:
    """Yield a client of an app on the RedisStore of `own_redis`."""
    app = create_app(Settings(store="redis", redis_url=own_redis.url, create_rate=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _timed(call: Callable[[], Any]) -> Any:
    """Return the response, checking it came within ANSWER_SECONDS."""
    start = time.monotonic()
    resp = call()
    assert time.monotonic() - start < ANSWER_SECONDS, resp.text
    return resp


def _origin(client: TestClient) -> str:
    created = client.post("/api/sessions", json={"example": "origin"})
    assert created.status_code == 201, created.text
    sid: str = created.json()["id"]
    return sid


def _session_routes(client: TestClient, sid: str) -> dict[str, Callable[[], Any]]:
    """Return every kind of session request: read, step, edit, create."""
    return {
        "get": lambda: client.get(f"/api/sessions/{sid}"),
        "step": lambda: client.post(f"/api/sessions/{sid}/step", json={"iterations": 1}),
        "patch": lambda: client.patch(f"/api/sessions/{sid}", json={"title": "edited"}),
        "create": lambda: client.post("/api/sessions", json={"example": "origin"}),
    }


# ---------------------------------------------------------------------- redis down
def test_every_session_route_answers_503_unavailable_while_redis_is_down(
        own_redis: OwnRedis, redis_client: TestClient) -> None:
    sid = _origin(redis_client)
    own_redis.kill()
    for name, call in _session_routes(redis_client, sid).items():
        resp = _timed(call)
        assert resp.status_code == 503, f"{name}: {resp.status_code} {resp.text}"
        assert resp.json()["error"]["code"] == "unavailable", name
        assert "unavailable" in resp.json()["error"]["message"], name
        assert int(resp.headers["Retry-After"]) > 0, name


def test_requests_succeed_again_once_redis_is_back_on_its_port(
        own_redis: OwnRedis, redis_client: TestClient) -> None:
    sid = _origin(redis_client)
    assert redis_client.post(f"/api/sessions/{sid}/step", json={"iterations": 2}).status_code == 200
    own_redis.kill()
    assert _timed(_session_routes(redis_client, sid)["step"]).status_code == 503
    own_redis.start()
    assert redis_client.get(f"/api/sessions/{sid}").json()["step"] == 2  # nothing lost
    stepped = redis_client.post(f"/api/sessions/{sid}/step", json={"iterations": 1})
    assert stepped.status_code == 200
    assert stepped.json()["step"] == 3
    assert redis_client.post("/api/sessions", json={"example": "origin"}).status_code == 201


def test_a_redis_that_does_not_answer_is_unavailable_after_the_timeout(
        own_redis: OwnRedis) -> None:
    store = RedisStore(own_redis.url, prefix="t:", timeout=0.5)
    try:
        store.create(SID, [b"kept"], ttl=60, cap=10)
        assert own_redis.proc is not None
        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # connected, but silent
        try:
            start = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.version(SID)
            assert time.monotonic() - start < ANSWER_SECONDS
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert store.load(SID) == [b"kept"]
    finally:
        store.close()


# ---------------------------------------------------------------------- no space
def test_redis_out_of_memory_answers_507_and_reads_still_answer(
        own_redis: OwnRedis, redis_client: TestClient) -> None:
    sid = _origin(redis_client)
    own_redis.config("maxmemory", "1")  # every write command is refused: OOM
    refused = redis_client.post(f"/api/sessions/{sid}/step", json={"iterations": 1})
    read = redis_client.get(f"/api/sessions/{sid}")
    own_redis.config("maxmemory", "0")
    assert refused.status_code == 507, refused.text
    assert refused.json()["error"]["code"] == "storage_full"
    assert read.status_code == 200
    assert read.json()["step"] == 0
    assert redis_client.post(f"/api/sessions/{sid}/step", json={"iterations": 1}).status_code == 200


def test_sqlite_locked_past_its_busy_timeout_is_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 200)
    store = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    other = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    try:
        store.create(SID, [b"kept"], ttl=60, cap=10)
        other.execute("BEGIN IMMEDIATE")  # another program's writer, holding on
        with pytest.raises(StoreUnavailable) as refused, store.lock(SID, timeout=5):
            store.save(SID, [b"changed"], ttl=60, version=1)
        other.execute("ROLLBACK")
        assert (refused.value.status, refused.value.retry_after) == (503, 5)
        assert store.load(SID) == [b"kept"]
    finally:
        other.close()
        store.close()

def _limited(store: SqliteStore, pages: int) -> Callable[[], sqlite3.Connection]:
    """Return the store's connect, with the database capped at `pages` pages (SQLite then
    answers SQLITE_FULL, "database or disk is full", as on a full disk)."""
    connect = store._connect

    def limited() -> sqlite3.Connection:
        conn = connect()
        conn.execute(f"PRAGMA max_page_count={pages}")
        return conn

    return limited


@pytest.fixture
def cramped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
    """Yield a SQLite store holding SID, with room for a few more pages only."""
    store = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    monkeypatch.setattr(store, "_connect", _limited(store, pages + 8))  # before the writer's
    store.create(SID, [b"kept"], ttl=60, cap=10, version=1)
    yield store
    store.close()


def test_sqlite_full_raises_storage_full_507_and_keeps_the_session(
        cramped: SqliteStore) -> None:
    with pytest.raises(StorageFull) as refused, cramped.lock(SID, timeout=5):
        cramped.save(SID, [os.urandom(200_000)], ttl=60, version=2)
    assert (refused.value.status, refused.value.code) == (507, "storage_full")
    assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
    assert (cramped.load(SID), cramped.version(SID)) == ([b"kept"], 1)


def test_sqlite_remembers_a_write_without_space_until_a_probe_write_succeeds(
        cramped: SqliteStore) -> None:
    with pytest.raises(StorageFull), cramped.lock(SID, timeout=5):
        cramped.save(SID, [os.urandom(200_000)], ttl=60, version=2)
    assert cramped.no_space is True  # so `ping` (/readyz) checks by writing
    assert cramped.ping() is True  # a one-row write still fits under the cap
    assert cramped.no_space is False


def test_on_a_small_file_system_the_wal_stays_a_small_share_of_it_under_steady_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Steady writes left no gap for a checkpoint round to restart the WAL, which grew until
    # it filled a 2 MiB disk; there SQLite's own checkpoint now runs inside the commits.
    disk = 2 * 1024 * 1024
    monkeypatch.setattr(sqlite_wal, "CHECKPOINT_SECONDS", 3600.0)  # no round runs
    monkeypatch.setattr(sqlite_wal, "_disk_frames",  # the file system is 2 MiB
                        lambda directory: disk // sqlite_wal.WAL_DISK_SHARE
                        // sqlite_wal.PAGE_BYTES)
    store = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    ids = [f"{k:022d}" for k in range(8)]
    for sid in ids:
        store.create(sid, [b"0"], ttl=60, cap=10)

    async def steady() -> None:
        for k in range(60):  # 3.8 MB written in all
            await asyncio.gather(*(store.save_async(sid, [os.urandom(8000)], 60, version=k)
                                   for sid in ids))

    try:
        run_async(steady())
        wal = (tmp_path / "s.sqlite3-wal").stat().st_size
    finally:
        store.close()
    assert wal < disk // 2
