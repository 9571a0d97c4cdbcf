"""Every store keeps a view token per session: recorded once, read back, gone with the session."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.sessions.errors import StorageFull
from app.sessions.stores import Store
from app.sessions.stores.base import ViewTokenTaken
from app.sessions.stores.memory import MemoryStore
from app.sessions.stores.redis import RedisStore
from app.sessions.stores.sqlite import SqliteStore
from tests.conftest import free_port
from tests.sessions.conftest import OwnRedis

A, B = "a" * 22, "b" * 22


def _token() -> str:
    """Return a fresh random 128-bit token, as the service proposes them."""
    return secrets.token_urlsafe(16)


def _expire(store: Store, session_id: str) -> None:
    """Give the session a lifetime of 1 ms (token keys too, in Redis) and outlive it."""
    store.save(session_id, [None], ttl=0.001)
    time.sleep(0.01)  # ten times the lifetime: expired however slow the machine


def _tokens_held(store: Store) -> set[str]:
    """Return every token the store keeps a record of, live or expired (its bookkeeping)."""
    if isinstance(store, MemoryStore):
        return set(store._views.values()) | set(store._viewed)
    if isinstance(store, SqliteStore):
        return {token for (token,) in store._db.execute("SELECT token FROM views")}
    assert isinstance(store, RedisStore)
    client = store._redis
    named = {_text(key)[len(store.prefix) + 2:] for key in client.keys(f"{store.prefix}t:*")}
    recorded = {_text(client.get(key)) for key in client.keys(f"{store.prefix}w:*")}
    return named | recorded


def _text(reply: object) -> str:
    """Return a Redis reply as text."""
    assert isinstance(reply, bytes)
    return reply.decode()


def test_a_proposed_token_is_recorded_and_names_its_session(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    token = _token()
    assert store.view_token(A, token) == token
    assert store.session_of_view(token) == A


def test_a_second_proposal_gets_the_first_token(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    first, second = _token(), _token()
    assert store.view_token(A, first) == first
    assert store.view_token(A, second) == first
    assert store.session_of_view(second) is None
    assert _tokens_held(store) == {first}


def test_each_session_has_its_own_token(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    store.create(B, [b"y"], ttl=60, cap=10)
    for_a, for_b = _token(), _token()
    assert (store.view_token(A, for_a), store.view_token(B, for_b)) == (for_a, for_b)
    assert (store.session_of_view(for_a), store.session_of_view(for_b)) == (A, B)


def _assert_no_token_recorded_for_a(store: Store) -> None:
    """Assert that session A gets no token: a proposal is refused and nothing is held."""
    token = _token()
    assert store.view_token(A, token) is None
    assert store.session_of_view(token) is None
    assert _tokens_held(store) == set()


def test_an_unknown_session_has_no_token_and_records_none(store: Store) -> None:
    _assert_no_token_recorded_for_a(store)


def test_an_unknown_token_names_no_session(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    store.view_token(A, _token())
    assert store.session_of_view(_token()) is None


def test_a_token_of_another_session_is_refused_and_stays_with_it(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    store.create(B, [b"y"], ttl=60, cap=10)
    token = _token()
    store.view_token(A, token)
    with pytest.raises(ViewTokenTaken):
        store.view_token(B, token)
    assert store.session_of_view(token) == A
    other = _token()
    assert store.view_token(B, other) == other  # B has none yet: the next proposal is it


def test_a_token_outlives_saves(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    token = _token()
    store.view_token(A, token)
    with store.lock(A, timeout=5):
        store.save(A, [b"y", b"z"], ttl=60, version=1)
    assert store.view_token(A, _token()) == token
    assert store.session_of_view(token) == A


def test_delete_removes_the_token(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    token = _token()
    store.view_token(A, token)
    assert store.delete(A) is True
    assert store.session_of_view(token) is None
    assert store.view_token(A, _token()) is None
    assert _tokens_held(store) == set()


def test_expiry_hides_the_token_and_sweep_drops_it(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    store.create(B, [b"y"], ttl=60, cap=10)
    dying, living = _token(), _token()
    store.view_token(A, dying)
    store.view_token(B, living)
    _expire(store, A)
    assert store.session_of_view(dying) is None
    assert store.view_token(A, _token()) is None
    assert store.sweep() == 1
    assert _tokens_held(store) == {living}
    assert store.session_of_view(living) == B


def test_an_expired_session_gets_no_token(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    _expire(store, A)
    _assert_no_token_recorded_for_a(store)


def test_racing_proposals_all_get_the_one_token(store: Store) -> None:
    store.create(A, [b"x"], ttl=60, cap=10)
    proposals = [_token() for _ in range(8)]
    answers: list[str | None] = []
    start = threading.Barrier(len(proposals))

    def propose(token: str) -> None:
        start.wait()
        answers.append(store.view_token(A, token))

    threads = [threading.Thread(target=propose, args=(token,)) for token in proposals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == len(proposals)
    (recorded,) = set(answers)
    assert recorded in proposals
    assert [store.session_of_view(token) for token in proposals].count(A) == 1
    assert _tokens_held(store) == {recorded}


# ---------------------------------------------------------------------- redis
def test_redis_token_keys_carry_the_sessions_ttl_and_a_save_renews_it(redis_url: str) -> None:
    prefix = f"t{secrets.token_hex(6)}:"
    store = RedisStore(redis_url, prefix)
    try:
        store.create(A, [b"x"], ttl=60, cap=10)
        token = _token()
        store.view_token(A, token)
        keys = [f"{prefix}w:{A}", f"{prefix}t:{token}"]
        assert all(0 < store._redis.pttl(key) <= 60_000 for key in keys)
        with store.lock(A, timeout=5):
            store.save(A, [b"y"], ttl=3600)
        assert all(3_500_000 < store._redis.pttl(key) <= 3_600_000 for key in keys)
        store.create(A, [b"z"], ttl=7200, cap=10)  # created again while it lives: kept
        assert all(7_100_000 < store._redis.pttl(key) <= 7_200_000 for key in keys)
        assert store.view_token(A, _token()) == token
    finally:
        store.close()


def test_redis_out_of_memory_refuses_a_new_token_and_serves_the_recorded_ones(
        tmp_path: Path) -> None:
    server = OwnRedis(tmp_path, free_port())  # filled here: never the shared server
    server.start()
    store = RedisStore(server.url, prefix="t:")
    try:
        store.create(A, [b"x"], ttl=60, cap=10)
        store.create(B, [b"y"], ttl=60, cap=10)
        token = _token()
        store.view_token(A, token)
        server.config("maxmemory", "1")  # every write is refused: OOM
        try:
            assert store.view_token(A, _token()) == token  # a read: no write to refuse
            assert store.session_of_view(token) == A
            with pytest.raises(StorageFull):
                store.view_token(B, _token())
        finally:
            server.config("maxmemory", "0")
        later = _token()
        assert store.view_token(B, later) == later  # the refused one left nothing behind
    finally:
        store.close()
        server.kill()


def test_redis_token_of_a_session_whose_keys_are_gone_names_nothing(redis_url: str) -> None:
    prefix = f"t{secrets.token_hex(6)}:"
    store = RedisStore(redis_url, prefix)
    try:
        store.create(A, [b"x"], ttl=60, cap=10)
        token = _token()
        store.view_token(A, token)
        # as a worker from before view tokens deletes a session: its token keys are left
        store._redis.delete(f"{prefix}p:{A}", f"{prefix}v:{A}")
        assert store.session_of_view(token) is None
        assert store.view_token(A, _token()) is None
    finally:
        store.close()


# ---------------------------------------------------------------------- sqlite
def test_sqlite_file_from_before_view_tokens_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as conn:  # the schema as it was before view tokens
        conn.executescript("""
            CREATE TABLE sessions (id TEXT PRIMARY KEY, blob BLOB NOT NULL,
                                   expires_at REAL NOT NULL, version INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX sessions_expiry ON sessions (expires_at);
            CREATE TABLE parts (id TEXT NOT NULL, idx INTEGER NOT NULL, blob BLOB NOT NULL,
                                PRIMARY KEY (id, idx));
            CREATE TABLE probe (id INTEGER PRIMARY KEY, at REAL NOT NULL);
        """)
        conn.execute("INSERT INTO sessions VALUES (?, X'', ?, 3)", (A, time.time() + 60))
        conn.execute("INSERT INTO parts VALUES (?, 0, ?)", (A, b"old"))
    conn.close()
    token = _token()
    first = SqliteStore(path, "NORMAL")
    assert first.load(A) == [b"old"]
    assert first.view_token(A, token) == token
    first.close()
    again = SqliteStore(path, "NORMAL")  # opened once more: the table is kept, not remade
    assert (again.session_of_view(token), again.view_token(A, _token())) == (A, token)
    again.close()


def test_sqlite_full_refuses_a_new_token_and_serves_the_recorded_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", "NORMAL")
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    connect = store._connect

    def cramped() -> sqlite3.Connection:  # room for a few more pages only (SQLITE_FULL)
        conn = connect()
        conn.execute(f"PRAGMA max_page_count={pages + 8}")
        return conn

    monkeypatch.setattr(store, "_connect", cramped)  # before the writer's connection
    try:
        store.create(A, [b"x"], ttl=60, cap=10)
        store.create(B, [b"y"], ttl=60, cap=10)
        token = _token()
        store.view_token(A, token)
        huge = "x" * 200_000  # a proposal that needs more pages than there are
        with pytest.raises(StorageFull):
            store.view_token(B, huge)
        assert store.view_token(A, huge) == token  # a read: the huge proposal is not written
        assert store.session_of_view(token) == A
        later = _token()
        assert store.view_token(B, later) == later  # the refused one left nothing behind
    finally:
        store.close()


def test_sqlite_token_is_shared_by_two_store_objects_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path, "FULL")
    first.create(A, [b"x"], ttl=60, cap=10)
    token = _token()
    first.view_token(A, token)
    second = SqliteStore(path, "FULL")  # as another worker would
    assert second.view_token(A, _token()) == token
    assert second.session_of_view(token) == A
    assert second.delete(A) is True
    assert first.session_of_view(token) is None
    first.close()
    second.close()

