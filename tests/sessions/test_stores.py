"""Every store behaves the same: parts, locks, expiry, the session cap."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import pytest

from app.sessions.stores import LockTimeout, Store, StoreFull
from app.sessions.stores.redis import LeaseLost, RedisStore
from app.sessions.stores.sqlite import SqliteStore


@pytest.fixture
def redis_prefix() -> str:
    """Return a key prefix no other test uses."""
    return f"t{secrets.token_hex(6)}:"


def test_create_then_load_returns_the_same_parts(store: Store) -> None:
    parts = [bytes(range(256)) * 10, b"", b"\x00" * 5000, b"last"]
    store.create("a" * 22, parts, ttl=60, cap=10)
    assert store.load("a" * 22) == parts


def test_unknown_id_loads_none(store: Store) -> None:
    assert store.load("b" * 22) is None


def test_save_replaces_the_parts(store: Store) -> None:
    store.create("c" * 22, [b"one"], ttl=60, cap=10)
    with store.lock("c" * 22, timeout=5):
        store.save("c" * 22, [b"two"], ttl=60)
    assert store.load("c" * 22) == [b"two"]


def test_delete_removes_and_reports(store: Store) -> None:
    store.create("d" * 22, [b"x"], ttl=60, cap=10)
    assert store.delete("d" * 22) is True
    assert store.delete("d" * 22) is False
    assert store.load("d" * 22) is None


def test_expired_sessions_are_invisible_and_swept(store: Store) -> None:
    store.create("e" * 22, [b"x"], ttl=0.05, cap=10)
    store.create("f" * 22, [b"y"], ttl=60, cap=10)
    time.sleep(0.1)
    assert store.load("e" * 22) is None
    assert store.sweep() == 1
    assert store.count() == 1


def test_cap_refuses_new_sessions(store: Store) -> None:
    store.create("g" * 22, [b"x"], ttl=60, cap=1)
    with pytest.raises(StoreFull):
        store.create("h" * 22, [b"y"], ttl=60, cap=1)


def test_cap_sweeps_expired_sessions_before_refusing(store: Store) -> None:
    store.create("i" * 22, [b"x"], ttl=0.05, cap=1)
    time.sleep(0.1)
    store.create("j" * 22, [b"y"], ttl=60, cap=1)
    assert store.load("j" * 22) == [b"y"]


def test_lock_excludes_other_threads(store: Store) -> None:
    store.create("k" * 22, [b"0"], ttl=60, cap=10)
    inside = 0
    overlap = []

    def work() -> None:
        nonlocal inside
        for _ in range(20):
            with store.lock("k" * 22, timeout=10):
                inside += 1
                overlap.append(inside)
                time.sleep(0.0005)
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlap) == 1
    assert len(overlap) == 80


def test_lock_times_out_while_held(store: Store) -> None:
    store.create("l" * 22, [b"0"], ttl=60, cap=10)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.lock("l" * 22, timeout=5):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    with pytest.raises(LockTimeout), store.lock("l" * 22, timeout=0.05):
        pass
    release.set()
    t.join()


def test_version_is_kept_with_the_parts(store: Store) -> None:
    assert store.version("s" * 22) is None
    store.create("s" * 22, [b"one"], ttl=60, cap=10, version=1)
    assert store.version("s" * 22) == 1
    with store.lock("s" * 22, timeout=5):
        store.save("s" * 22, [b"two"], ttl=60, version=7)
    assert (store.load("s" * 22), store.version("s" * 22)) == ([b"two"], 7)
    store.delete("s" * 22)
    assert store.version("s" * 22) is None


def test_expired_session_has_no_version(store: Store) -> None:
    store.create("t" * 22, [b"x"], ttl=0.05, cap=10, version=3)
    time.sleep(0.1)
    assert store.version("t" * 22) is None


def test_ping_answers(store: Store) -> None:
    assert store.ping() is True


def _increment(path: str, rounds: int) -> None:
    s = SqliteStore(Path(path), "NORMAL")
    for _ in range(rounds):
        with s.lock("m" * 22, timeout=30):
            value = int((s.load("m" * 22) or [b"0"])[0])
            s.save("m" * 22, [str(value + 1).encode()], ttl=60)
    s.close()


def test_sqlite_lock_excludes_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = SqliteStore(path, "NORMAL")
    s.create("m" * 22, [b"0"], ttl=60, cap=10)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(str(path), 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert s.load("m" * 22) == [b"75"]


def _hold_sqlite_lock(path: str, held: threading.Event) -> None:
    s = SqliteStore(Path(path), "NORMAL")
    with s.lock("n" * 22, timeout=5):
        held.set()
        time.sleep(3600)


def test_sqlite_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = SqliteStore(path, "NORMAL")
    s.create("n" * 22, [b"0"], ttl=60, cap=10)
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    p = ctx.Process(target=_hold_sqlite_lock, args=(str(path), held))
    p.start()
    assert held.wait(30)
    with pytest.raises(LockTimeout), s.lock("n" * 22, timeout=0.2):
        pass  # the live holder keeps it
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)  # killed mid-step: the kernel drops its lock
    p.join(10)
    with s.lock("n" * 22, timeout=1):
        s.save("n" * 22, [b"1"], ttl=60, version=2)
    assert s.load("n" * 22) == [b"1"]
    s.close()


def test_sqlite_lock_excludes_another_store_object_in_the_same_process(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    second = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")  # as a second worker would
    with first.lock("u" * 22, timeout=5):
        with pytest.raises(LockTimeout), second.lock("u" * 22, timeout=0.1):
            pass
        with second.lock("v" * 22, timeout=0.1):
            pass  # another session is not held up
    with second.lock("u" * 22, timeout=1):
        pass
    first.close()
    second.close()


def test_sqlite_concurrent_writes_all_land_and_a_failing_one_only_fails_itself(
        tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    ids = [f"{i:022d}" for i in range(12)]
    for i in ids[:10]:
        s.create(i, [b"0"], ttl=60, cap=11)
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def save(session_id: str) -> None:
        start.wait()
        for k in range(1, 21):
            s.save(session_id, [str(k).encode()], ttl=60, version=k)

    def create(session_id: str) -> None:
        start.wait()
        try:
            s.create(session_id, [b"new"], ttl=60, cap=11)
        except StoreFull as err:
            errors.append(err)

    threads = [threading.Thread(target=save, args=(i,)) for i in ids[:10]]
    threads += [threading.Thread(target=create, args=(i,)) for i in ids[10:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(s.load(i) == [b"20"] and s.version(i) == 20 for i in ids[:10])
    assert len(errors) == 1  # the cap held one of the two creations, and only that one
    assert sorted(s.load(i) is None for i in ids[10:]) == [False, True]
    assert s.count() == 11
    s.close()


def test_sqlite_reads_a_file_from_before_versions(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, blob BLOB NOT NULL, "
                     "expires_at REAL NOT NULL)")
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?)", ("w" * 22, b"old",
                                                              time.time() + 60))
    s = SqliteStore(path, "NORMAL")
    assert s.load("w" * 22) == [b"old"]
    assert s.version("w" * 22) == 0
    s.save("w" * 22, [b"new"], ttl=60, version=5)
    assert (s.load("w" * 22), s.version("w" * 22)) == ([b"new"], 5)
    s.close()


def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path, "FULL")
    first.create("o" * 22, [b"kept"], ttl=60, cap=10)
    first.close()
    assert SqliteStore(path, "FULL").load("o" * 22) == [b"kept"]


def _increment_redis(url: str, prefix: str, rounds: int) -> None:
    s = RedisStore(url, prefix)
    for _ in range(rounds):
        with s.lock("m" * 22, timeout=30):
            value = int((s.load("m" * 22) or [b"0"])[0])
            s.save("m" * 22, [str(value + 1).encode()], ttl=60)
    s.close()


def test_redis_lock_excludes_other_processes(redis_url: str, redis_prefix: str) -> None:
    s = RedisStore(redis_url, redis_prefix)
    s.create("m" * 22, [b"0"], ttl=60, cap=10)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment_redis, args=(redis_url, redis_prefix, 25))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert s.load("m" * 22) == [b"75"]
    s.close()


def _hold_forever(url: str, prefix: str, lease: float, held: threading.Event) -> None:
    s = RedisStore(url, prefix, lease=lease)
    with s.lock("n" * 22, timeout=5):
        held.set()
        time.sleep(3600)


def test_redis_lock_of_a_dead_process_is_taken_over(redis_url: str, redis_prefix: str) -> None:
    s = RedisStore(redis_url, redis_prefix)
    s.create("n" * 22, [b"0"], ttl=60, cap=10)
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    p = ctx.Process(target=_hold_forever, args=(redis_url, redis_prefix, 0.5, held))
    p.start()
    assert held.wait(30)
    with pytest.raises(LockTimeout), s.lock("n" * 22, timeout=0.7):
        pass  # renewed: the live holder keeps its lock past its 0.5 s lease
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)  # killed mid-step: no release, no more renewals
    p.join(10)
    started = time.monotonic()
    with s.lock("n" * 22, timeout=5):
        s.save("n" * 22, [b"1"], ttl=60)
    assert time.monotonic() - started < 2
    assert s.load("n" * 22) == [b"1"]
    s.close()


def test_redis_long_hold_keeps_its_lease(redis_url: str, redis_prefix: str) -> None:
    holder = RedisStore(redis_url, redis_prefix, lease=0.3)
    other = RedisStore(redis_url, redis_prefix, lease=0.3)  # as another replica would
    holder.create("p" * 22, [b"0"], ttl=60, cap=10)
    with holder.lock("p" * 22, timeout=5):
        time.sleep(1.0)  # a long step: three leases
        with pytest.raises(LockTimeout), other.lock("p" * 22, timeout=0.2):
            pass
        holder.save("p" * 22, [b"1"], ttl=60)
    with other.lock("p" * 22, timeout=1):
        assert other.load("p" * 22) == [b"1"]
    holder.close()
    other.close()


def test_redis_save_after_a_lost_lease_is_refused(redis_url: str, redis_prefix: str) -> None:
    s = RedisStore(redis_url, redis_prefix)
    s.create("q" * 22, [b"0"], ttl=60, cap=10)
    with s.lock("q" * 22, timeout=5):
        # the lease ran out and another replica took the lock
        s._redis.set(f"{redis_prefix}lock:{'q' * 22}", b"someone else", px=60_000)
        with pytest.raises(LeaseLost):
            s.save("q" * 22, [b"stale"], ttl=60)
    assert s.load("q" * 22) == [b"0"]
    s.close()


def test_redis_keeps_the_parts_ttl_and_the_expiry_set_in_step(redis_url: str,
                                                              redis_prefix: str) -> None:
    s = RedisStore(redis_url, redis_prefix)
    s.create("r" * 22, [b"x", b"z"], ttl=60, cap=10)
    ttl_ms = s._redis.pttl(f"{redis_prefix}p:{'r' * 22}")
    assert 59_000 < ttl_ms <= 60_000
    with s.lock("r" * 22, timeout=5):
        s.save("r" * 22, [b"y", None], ttl=3600)
    assert s._redis.pttl(f"{redis_prefix}p:{'r' * 22}") > 3_500_000
    assert s._redis.pttl(f"{redis_prefix}v:{'r' * 22}") > 3_500_000
    assert s.count() == 1
    s.close()
