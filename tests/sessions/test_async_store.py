"""The stores' event-loop path: `lock_async`, `save_async` and SQLite's loop-turn commits."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.sessions.stores import LockTimeout, sqlite_wal, sqlite_writes
from app.sessions.stores.base import InlineStore, LocalLocks, StoreClosed
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.sqlite import SqliteStore
from tests.conftest import run_async

INLINE_MAKERS: dict[str, Callable[[Path], InlineStore]] = {
    "memory": lambda tmp_path: MemoryStore(),
    "sqlite": lambda tmp_path: SqliteStore(tmp_path / "s.sqlite3", "FULL"),
}
SID = "k" * 22


@pytest.fixture(params=list(INLINE_MAKERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InlineStore]:
    s = INLINE_MAKERS[request.param](tmp_path)
    s.create(SID, [b"0"], ttl=60, cap=100)
    yield s
    s.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "s.sqlite3"


@pytest.fixture(params=["loop", "thread"])
def fsync_on(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the WAL fsynced on the event loop (a quick disk), then by the sync
    thread (a slow one)."""
    monkeypatch.setattr(sqlite_writes, "INLINE_FSYNC_SECONDS",
                        3600.0 if request.param == "loop" else -1.0)
    return str(request.param)


def _ids(n: int) -> list[str]:
    return [f"{i:022d}" for i in range(n)]


def _sqlite_with(path: Path, ids: list[str], synchronous: str = "FULL") -> SqliteStore:
    """Return a SQLite store on `path` holding the sessions `ids` (one part, b"0"; version 0)."""
    s = SqliteStore(path, synchronous)
    for i in ids:
        s.create(i, [b"0"], ttl=60, cap=100)
    return s


def _read_back(path: Path, ids: list[str]) -> list[tuple[list[bytes] | None, int | None]]:
    """Return each session's (parts, version) as a fresh store on the same file reads them."""
    again = SqliteStore(path, "FULL")
    try:
        return [(again.load(i), again.version(i)) for i in ids]
    finally:
        again.close()


def _blob(k: int) -> bytes:
    return bytes(range(256)) * (k + 1) + k.to_bytes(2, "little")


def _holder(store: InlineStore, session_id: str) -> tuple[threading.Thread, threading.Event,
                                                          threading.Event]:
    """Start a thread holding the session's sync lock until `release` is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock(session_id, timeout=5):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    return thread, held, release


# ---------------------------------------------------------------------- SQLite batches
def _count_batches(s: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Return the list each transaction of `s` appends its number of changes to."""
    batches: list[int] = []
    transaction = s._writes._transaction

    def counting(db: sqlite3.Connection, batch: list[Any]) -> None:
        batches.append(len(batch))
        transaction(db, batch)

    monkeypatch.setattr(s._writes, "_transaction", counting)
    return batches


def test_sqlite_gathered_saves_all_land_with_their_exact_blobs_and_versions(
        sqlite_path: Path, fsync_on: str) -> None:
    ids = _ids(8)
    s = _sqlite_with(sqlite_path, ids)

    async def main() -> None:
        await asyncio.gather(*(s.save_async(i, [_blob(k)], 60, version=10 + k)
                               for k, i in enumerate(ids)))

    run_async(main())
    s.close()
    assert _read_back(sqlite_path, ids) == [([_blob(k)], 10 + k) for k in range(8)]


def test_sqlite_saves_gathered_in_one_loop_turn_share_one_transaction(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_on: str) -> None:
    ids = _ids(8)
    s = _sqlite_with(sqlite_path, ids)
    batches = _count_batches(s, monkeypatch)

    async def main() -> None:
        await asyncio.gather(*(s.save_async(i, [b"1"], 60, version=1) for i in ids))

    run_async(main())
    s.close()
    assert batches == [8]


async def _save_after(s: SqliteStore, session_id: str, turns: int) -> None:
    """Save after letting the loop run `turns` turns."""
    for _ in range(turns):
        await asyncio.sleep(0)
    await s.save_async(session_id, [b"1"], 60, version=1)


def test_sqlite_saves_arriving_over_a_few_loop_turns_share_one_transaction(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_on: str) -> None:
    monkeypatch.setattr(sqlite_writes, "GROUP_SECONDS", 3600.0)  # turns decide, not time
    ids = _ids(9)
    s = _sqlite_with(sqlite_path, ids)
    batches = _count_batches(s, monkeypatch)

    async def main() -> None:  # three saves a turn, over three turns: the group grows
        await asyncio.gather(*(_save_after(s, i, k % 3) for k, i in enumerate(ids)))

    run_async(main())
    s.close()
    assert batches == [9]
    assert [version for _, version in _read_back(sqlite_path, ids)] == [1] * 9


def test_sqlite_a_growing_group_commits_after_its_last_turn_or_its_time(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _ids(12)
    s = _sqlite_with(sqlite_path, ids)
    batches = _count_batches(s, monkeypatch)

    async def main() -> None:  # one more save every turn, for twelve turns
        await asyncio.gather(*(_save_after(s, i, k) for k, i in enumerate(ids)))

    monkeypatch.setattr(sqlite_writes, "GROUP_SECONDS", 3600.0)
    run_async(main())
    by_turns = list(batches)
    batches.clear()
    monkeypatch.setattr(sqlite_writes, "GROUP_TURNS", 100)
    monkeypatch.setattr(sqlite_writes, "GROUP_SECONDS", 0.0)  # waited long enough at once
    run_async(main())
    s.close()
    assert sum(by_turns) == 12
    assert len(by_turns) > 1
    assert max(by_turns) <= 1 + sqlite_writes.GROUP_TURNS
    assert sum(batches) == 12
    assert max(batches) <= 2


def test_sqlite_a_lone_save_commits_on_the_next_loop_turn(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_writes, "INLINE_FSYNC_SECONDS", 3600.0)  # on the loop
    monkeypatch.setattr(sqlite_writes, "GROUP_SECONDS", 3600.0)
    s = _sqlite_with(sqlite_path, [SID])

    async def main() -> int:
        save = asyncio.ensure_future(s.save_async(SID, [b"1"], 60, version=1))
        turns = 0
        while not save.done():
            await asyncio.sleep(0)
            turns += 1
        await save
        return turns

    turns = run_async(main())
    s.close()
    assert turns <= 3  # queued; committed and fsynced; resumed — no turn spent waiting
    assert _read_back(sqlite_path, [SID]) == [([b"1"], 1)]


def test_sqlite_gathered_saves_return_only_after_an_fsync_of_their_commit(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_on: str) -> None:
    ids = _ids(8)
    s = _sqlite_with(sqlite_path, ids)
    seen: list[dict[str, int]] = []  # at each fsync: the committed versions, by id
    fsync = s._wal.fsync

    def recording() -> None:
        with sqlite3.connect(sqlite_path) as conn:
            seen.append(dict(conn.execute("SELECT id, version FROM sessions").fetchall()))
        conn.close()
        fsync()

    monkeypatch.setattr(s._wal, "fsync", recording)

    async def save(k: int, session_id: str) -> int:
        await s.save_async(session_id, [b"1"], 60, version=10 + k)
        return len(seen)  # fsyncs done when this coroutine resumed

    async def main() -> list[int]:
        return list(await asyncio.gather(*(save(k, i) for k, i in enumerate(ids))))

    resumed_after = run_async(main())
    s.close()
    for k, (session_id, count) in enumerate(zip(ids, resumed_after, strict=True)):
        assert any(snapshot[session_id] == 10 + k for snapshot in seen[:count])


def test_sqlite_a_failing_change_fails_alone_and_its_batch_commits(sqlite_path: Path,
                                                                   fsync_on: str) -> None:
    ids = _ids(4)
    s = _sqlite_with(sqlite_path, ids)

    def failing(db: sqlite3.Connection) -> None:
        db.execute("UPDATE sessions SET blob = ?, version = 9 WHERE id = ?", (b"x", ids[2]))
        raise RuntimeError("refused")

    async def main() -> list[Any]:
        return list(await asyncio.gather(
            s.save_async(ids[0], [b"a"], 60, version=1),
            s.save_async(ids[1], [b"b"], 60, version=2),
            s._writes.write_async(failing), s.save_async(ids[3], [b"d"], 60, version=4),
            return_exceptions=True))

    outcomes = run_async(main())
    s.close()
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "NoneType", "RuntimeError",
                                                    "NoneType"]
    assert _read_back(sqlite_path, ids) == [([b"a"], 1), ([b"b"], 2), ([b"0"], 0), ([b"d"], 4)]


def test_sqlite_two_failing_changes_fail_alone_and_the_rest_commit(sqlite_path: Path,
                                                                    fsync_on: str) -> None:
    ids = _ids(5)
    s = _sqlite_with(sqlite_path, ids)

    def failing(k: int) -> Callable[[sqlite3.Connection], None]:
        def run(db: sqlite3.Connection) -> None:
            db.execute("UPDATE sessions SET version = 99 WHERE id = ?", (ids[k],))
            raise RuntimeError(f"refused {k}")
        return run

    async def main() -> list[Any]:
        return list(await asyncio.gather(
            s._writes.write_async(failing(0)), s.save_async(ids[1], [b"b"], 60, version=2),
            s._writes.write_async(failing(2)), s.save_async(ids[3], [b"d"], 60, version=4),
            s.save_async(ids[4], [b"e"], 60, version=5), return_exceptions=True))

    outcomes = run_async(main())
    s.close()
    assert [str(o) if o else None for o in outcomes] == ["refused 0", None, "refused 2", None,
                                                        None]
    assert _read_back(sqlite_path, ids) == [([b"0"], 0), ([b"b"], 2), ([b"0"], 0), ([b"d"], 4),
                                            ([b"e"], 5)]


def test_sqlite_an_fsync_after_close_syncs_by_path_and_keeps_no_descriptor(
        sqlite_path: Path) -> None:
    s = _sqlite_with(sqlite_path, [SID])
    s.save(SID, [b"x"], 60, version=1)
    other = SqliteStore(sqlite_path, "FULL")  # keeps the WAL in place after s closes
    s.close()
    s._wal.fsync()
    assert s._wal._fd is None
    other.close()


def test_sqlite_close_waits_for_the_fsync_of_committed_saves_and_wakes_them(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_writes, "INLINE_FSYNC_SECONDS", -1.0)  # a slow disk
    s = _sqlite_with(sqlite_path, [SID])
    syncing = threading.Event()
    fsync = s._wal.fsync

    def slow() -> None:
        syncing.set()
        s._writes._stop.wait(10)  # the fsync is still running when close() begins
        fsync()

    monkeypatch.setattr(s._wal, "fsync", slow)

    async def main() -> bool:
        saving = asyncio.ensure_future(s.save_async(SID, [b"kept"], 60, version=3))
        assert await asyncio.to_thread(syncing.wait, 10)
        waited = not saving.done()
        closer = threading.Thread(target=s.close)
        closer.start()
        await saving
        await asyncio.to_thread(closer.join, 10)
        return waited

    assert run_async(main()) is True
    assert _read_back(sqlite_path, [SID]) == [([b"kept"], 3)]


def test_sqlite_fsyncs_leave_the_loop_while_the_disk_is_slow_and_come_back_after(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _sqlite_with(sqlite_path, [SID])
    delay = [0.02]  # the disk: slow first, quick later
    where: list[str] = []  # the thread of each fsync
    fsync = s._wal.fsync

    def disk() -> None:
        where.append(threading.current_thread().name)
        if delay[0]:  # slow: 20 ms, then the real fsync
            time.sleep(delay[0])
            fsync()
        # quick: a disk that answers at once (the real one's speed varies with the load of
        # the machine, and this test is about where the fsync runs, not how fast it is)

    monkeypatch.setattr(s._wal, "fsync", disk)

    async def saves(count: int, first: int) -> None:
        for k in range(count):
            await s.save_async(SID, [b"%d" % (first + k)], 60, version=first + k)

    async def main() -> str:
        await saves(3, 1)
        delay[0] = 0.0
        await saves(40, 4)
        return threading.current_thread().name

    loop_thread = run_async(main())
    s.close()
    assert where[0] == loop_thread  # nothing measured yet: on the loop
    assert where[1:3] == ["sqlite-sync", "sqlite-sync"]  # 20 ms is slow: off the loop
    assert where[-1] == loop_thread  # quick again: back on the loop
    assert _read_back(sqlite_path, [SID]) == [([b"43"], 43)]


def test_sqlite_a_lock_file_failure_fails_its_batch_and_the_next_save_still_lands(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_on: str) -> None:
    s = _sqlite_with(sqlite_path, [SID])
    real = s._locks.try_byte
    calls = []

    def once_broken(byte: int) -> bool:
        calls.append(byte)
        if len(calls) == 1:
            raise OSError(errno.ENOLCK, "no locks available")
        return real(byte)

    monkeypatch.setattr(s._locks, "try_byte", once_broken)

    async def main() -> tuple[BaseException | None, None]:
        first = await asyncio.wait_for(
            asyncio.gather(s.save_async(SID, [b"lost"], 60, version=1), return_exceptions=True),
            10)
        second = await asyncio.wait_for(s.save_async(SID, [b"kept"], 60, version=2), 10)
        return first[0], second

    failed, _ = run_async(main())
    s.close()
    assert isinstance(failed, OSError)
    assert failed.errno == errno.ENOLCK
    assert _read_back(sqlite_path, [SID]) == [([b"kept"], 2)]


def test_sqlite_close_on_the_loop_commits_what_the_loop_queued(sqlite_path: Path,
                                                               fsync_on: str) -> None:
    s = _sqlite_with(sqlite_path, [SID])

    async def main() -> None:
        saving = asyncio.ensure_future(s.save_async(SID, [b"queued"], 60, version=5))
        await asyncio.sleep(0)  # queued, its commit not yet run
        s.close()
        await asyncio.wait_for(saving, 10)

    run_async(main())
    assert _read_back(sqlite_path, [SID]) == [([b"queued"], 5)]


def test_sqlite_writes_after_close_are_refused_clearly(sqlite_path: Path) -> None:
    s = _sqlite_with(sqlite_path, [SID])
    s.close()
    with pytest.raises(StoreClosed):
        s.save(SID, [b"late"], 60, version=1)
    with pytest.raises(StoreClosed):
        run_async(asyncio.wait_for(s.save_async(SID, [b"late"], 60, version=1), 10))
    assert _read_back(sqlite_path, [SID]) == [([b"0"], 0)]


def _fill_wal(s: SqliteStore, ids: list[str], rounds: int) -> None:
    async def main() -> None:
        for k in range(rounds):
            await asyncio.gather(*(s.save_async(i, [bytes(20_000)], 60, version=k) for i in ids))

    run_async(main())


def _round(s: SqliteStore, path: Path) -> tuple[int, int]:
    """Run one checkpoint round by hand; return the WAL's frames after it and one more
    save, and the WAL file's size then."""
    conn = sqlite3.connect(path)
    try:
        s._wal.checkpoint(conn, s._writes.hold_writers)
        s.save(SID, [b"after"], 60, version=1)
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return frames, wal.stat().st_size


def test_sqlite_a_checkpoint_round_restarts_a_wal_over_the_limit_in_place(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Under steady writes a passive checkpoint never catches up with the end of the WAL,
    # and SQLite never restarts it: past the limit, the round has the next commit start
    # from the first page again, in the file as it is (no growth, no allocation).
    monkeypatch.setattr(sqlite_wal, "CHECKPOINT_SECONDS", 3600.0)  # rounds run by hand
    monkeypatch.setattr(sqlite_wal, "WAL_LIMIT_FRAMES", 64)
    ids = _ids(8)
    s = _sqlite_with(sqlite_path, [*ids, SID])
    _fill_wal(s, ids, 20)
    before = sqlite_path.with_name(sqlite_path.name + "-wal").stat().st_size
    frames, size = _round(s, sqlite_path)
    s.close()
    assert before > 64 * 4096
    assert frames < 8  # the last save's pages, at the start of the WAL
    assert size == before
    assert _read_back(sqlite_path, ids) == [([bytes(20_000)], 19)] * len(ids)


def test_sqlite_a_wal_file_grown_past_its_maximum_is_truncated(
        sqlite_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_wal, "CHECKPOINT_SECONDS", 3600.0)
    monkeypatch.setattr(sqlite_wal, "WAL_LIMIT_FRAMES", 64)
    monkeypatch.setattr(sqlite_wal, "WAL_MAX_FRAMES", 128)
    ids = _ids(8)
    s = _sqlite_with(sqlite_path, [*ids, SID])
    _fill_wal(s, ids, 20)
    frames, size = _round(s, sqlite_path)
    s.close()
    assert frames < 8
    assert size < 8 * 4200  # emptied, then the one save
    assert _read_back(sqlite_path, ids) == [([bytes(20_000)], 19)] * len(ids)


# ---------------------------------------------------------------------- locks and saves
def test_save_async_replaces_the_blob_and_its_version(store: InlineStore) -> None:
    async def main() -> None:
        async with store.lock_async(SID, timeout=5):
            await store.save_async(SID, [b"two"], 60, version=7)

    run_async(main())
    assert (store.load(SID), store.version(SID)) == ([b"two"], 7)


def test_lock_async_times_out_while_a_thread_holds_the_lock(store: InlineStore) -> None:
    thread, _, release = _holder(store, SID)

    async def main() -> None:
        async with store.lock_async(SID, timeout=0.05):
            pass

    try:
        with pytest.raises(LockTimeout):
            run_async(main())
    finally:
        release.set()
        thread.join(10)


def test_lock_async_is_taken_once_the_thread_holder_releases(store: InlineStore) -> None:
    thread, _, release = _holder(store, SID)
    order: list[str] = []

    async def take() -> None:
        async with store.lock_async(SID, timeout=10):
            order.append("taken")

    async def main() -> None:
        waiting = asyncio.ensure_future(take())
        await asyncio.sleep(0.05)  # let it try and start polling
        order.append("released")
        release.set()
        await waiting

    try:
        run_async(main())
    finally:
        release.set()
        thread.join(10)
    assert order == ["released", "taken"]


def test_a_thread_cannot_take_the_lock_a_coroutine_holds(store: InlineStore) -> None:
    def try_lock() -> bool:
        try:
            with store.lock(SID, timeout=0.05):
                return True
        except LockTimeout:
            return False

    async def main() -> tuple[bool, bool]:
        async with store.lock_async(SID, timeout=5):
            inside = await asyncio.to_thread(try_lock)
        return inside, await asyncio.to_thread(try_lock)

    assert run_async(main()) == (False, True)


def test_lock_async_excludes_other_coroutines_of_the_loop(store: InlineStore) -> None:
    inside = 0
    overlap: list[int] = []

    async def work() -> None:
        nonlocal inside
        for _ in range(10):
            async with store.lock_async(SID, timeout=10):
                inside += 1
                overlap.append(inside)
                await asyncio.sleep(0)
                inside -= 1

    async def main() -> None:
        await asyncio.gather(*(work() for _ in range(4)))

    run_async(main())
    assert (max(overlap), len(overlap)) == (1, 40)


def test_sqlite_lock_async_excludes_another_store_object_on_the_same_file(
        sqlite_path: Path) -> None:
    first = _sqlite_with(sqlite_path, [SID], "NORMAL")
    second = SqliteStore(sqlite_path, "NORMAL")  # as a second worker would

    async def take(session_id: str, timeout: float) -> None:
        async with second.lock_async(session_id, timeout):
            pass

    with first.lock(SID, timeout=5):
        with pytest.raises(LockTimeout):
            run_async(take(SID, 0.1))
        run_async(take("v" * 22, 0.1))  # another session is not held up
    run_async(take(SID, 1))
    first.close()
    second.close()


# ---------------------------------------------------------------------- LocalLocks
def test_local_locks_hold_async_leaves_no_entry_behind() -> None:
    locks = LocalLocks()

    async def use(key: str) -> None:
        async with locks.hold_async(key, timeout=5):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(use(k) for k in ("a", "a", "b", "a", "c")))

    run_async(main())
    assert len(locks) == 0


def test_local_locks_hold_async_leaves_no_entry_behind_after_a_timeout() -> None:
    locks = LocalLocks()

    async def main() -> None:
        async with locks.hold_async("a", timeout=5):
            with pytest.raises(LockTimeout):
                async with locks.hold_async("a", timeout=0.02):
                    pass
            assert len(locks) == 1

    run_async(main())
    assert len(locks) == 0


def test_local_locks_hold_async_leaves_no_entry_behind_when_a_waiter_is_cancelled() -> None:
    locks = LocalLocks()

    async def wait_for_it() -> None:
        async with locks.hold_async("a", timeout=10):
            pass

    async def main() -> None:
        async with locks.hold_async("a", timeout=5):
            waiter = asyncio.ensure_future(wait_for_it())
            await asyncio.sleep(0.01)  # polling by now
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter

    run_async(main())
    assert len(locks) == 0
