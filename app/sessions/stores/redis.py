"""The shared store: sessions in Redis, so several workers or replicas serve the same sessions.

Keys live under a prefix (default `bp:`): `bp:p:<id>` is a hash of a session's parts by
index (exact bytes, float64 never rounded) with a Redis TTL, so a save sends only the
parts it changed; `bp:v:<id>` its version with the same TTL; `bp:s:<id>` the one blob of
a session saved before parts (read as one part, deleted by its next save);
`bp:expiry` is a sorted set of ids scored by their expiry in ms (the bookkeeping behind
the cap, `count` and `sweep`, no SCAN), and `bp:lock:<id>` is a session's lock. Every
write that touches both the blob and the sorted set is one Lua script, timed by the
Redis server's clock (replicas' clocks may drift).

View tokens: `bp:w:<id>` holds a session's view token and `bp:t:<token>` its id, both
with the session's TTL. `VIEW_LUA` (in `view_tokens.py`) reads or records them; CREATE
and SAVE renew them with the session, DELETE removes them, and at expiry they are gone
by TTL (nothing for `sweep`). A script that reaches one of these keys through the other
(`bp:t:` from the token in `bp:w:`, `bp:v:` from the id in `bp:t:`) builds its name in
Lua from the prefix it is given, which Redis Cluster forbids — unsupported anyway.

Locks are redis-py `Lock`s: a random token set with NX and a lease (`LEASE` seconds). While
held, one background thread per store renews every held lease, so a long step keeps its
lock; a holder that dies (SIGKILL, lost machine) stops renewing and its lock is taken over
when the lease runs out. Threads of one process queue on a threading lock first, so only
one of them polls Redis. `save` is fenced by the lock's token: a holder whose lease was
lost (renewal stalled past the lease) gets `LeaseLost` instead of overwriting the new
holder's work.

Failures: a Redis that does not answer — refused, reset, or silent past `SOCKET_TIMEOUT`
(`CONNECT_TIMEOUT` to connect) — raises `StoreUnavailable` (503 with Retry-After); a
dropped connection is tried again on a new one, `RETRIES` times, but a silent server is
not waited for twice. Redis at `maxmemory` ("-OOM command not allowed") raises
`StorageFull` (507): it refuses a script's first write, so nothing was changed. A change
to a session whose answer was lost after it was sent may have been saved: its message
says so.

Trade-offs: a dead holder's sessions wait up to `LEASE` seconds (there is no pid to check
across machines); polling is not fair between processes; `save` is as durable as the
server is configured to be (an acknowledged step is in Redis's memory, and on disk only
with AOF `appendfsync always`); the keys span hash slots, so Redis Cluster is not supported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.lock import Lock
from redis.retry import Retry

from ..errors import ServiceError, StorageFull, StoreUnavailable
from .base import LocalLocks, LockTimeout, MissingPart, StoreFull, ViewTokenTaken, backoff
from .view_tokens import RENEW_LUA, SESSION_OF_LUA, VIEW_LUA

log = logging.getLogger(__name__)
LEASE = 5.0  # seconds a lock outlives its holder when the holder stops renewing (dies)
RENEWALS_PER_LEASE = 4  # a held lease is renewed this often within one lease
SOCKET_TIMEOUT = 5.0  # seconds a Redis command may take before it fails (MBs take ms)
CONNECT_TIMEOUT = 2.0  # seconds to connect (milliseconds on a LAN)
RETRIES = 2  # times a command is sent again on a new connection after a dropped one
UNSURE = ("The session store is unavailable: it did not answer, and the change may have "
          "been saved or not. Reload the session before trying again.")

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: parts, expiry set, version, view token; ARGV: id, ttl ms, cap, version, key
# prefix, then the parts in order → 1 stored, 0 full
CREATE = _NOW_MS + RENEW_LUA + """
local ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= cap then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= cap then return 0 end
end
redis.call('DEL', KEYS[1])
for i = 6, #ARGV do redis.call('HSET', KEYS[1], tostring(i - 6), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[3], ARGV[4], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
renew_view(KEYS[4], ARGV[5], ttl)
return 1
"""

# KEYS: parts, expiry set, lock, version, blob from before parts, view token; ARGV: id,
# ttl ms, token ('' = unfenced), version, the number of parts, key prefix, then (index,
# part) pairs of the parts changed → 1 saved, 0 unknown session (deleted or expired),
# -1 the lock is not ours, {-2, index}: the part kept at that index is not stored
# (nothing changed)
SAVE = _NOW_MS + RENEW_LUA + """
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
local ttl, count = tonumber(ARGV[2]), tonumber(ARGV[5])
local held = redis.call('HLEN', KEYS[1])  -- parts are numbered 0, 1, … with no gap
local given = {}
for i = 7, #ARGV, 2 do given[tonumber(ARGV[i])] = true end
for i = held, count - 1 do
  if not given[i] then return {-2, i} end
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = count, held - 1 do redis.call('HDEL', KEYS[1], tostring(i)) end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('DEL', KEYS[5])
redis.call('SET', KEYS[4], ARGV[4], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
renew_view(KEYS[6], ARGV[6], ttl)
return 1
"""

# KEYS: parts, blob from before parts → the parts as index, part, … (index -1: the blob)
LOAD = """
local parts = redis.call('HGETALL', KEYS[1])
if #parts > 0 then return parts end
local blob = redis.call('GET', KEYS[2])
if blob then return {'-1', blob} end
return {}
"""

# KEYS: parts, expiry set, version, blob from before parts, view token; ARGV: id, key
# prefix → 1 deleted, 0 unknown
DELETE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
local token = redis.call('GET', KEYS[5])
if token then redis.call('DEL', KEYS[5], ARGV[2] .. 't:' .. token) end
return math.min(1, redis.call('DEL', KEYS[1], KEYS[4]))
"""

SWEEP = _NOW_MS + "return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)"
COUNT = _NOW_MS + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


class LeaseLost(LockTimeout):
    """The lock's lease ran out while held (renewal stalled); the change was not saved."""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisStore:
    """Sessions in the Redis server at `url`, shared by every process that points at it."""

    inline = False  # every call is a network round trip: changes run in threads

    def __init__(self, url: str, prefix: str = "bp:", lease: float = LEASE,
                 timeout: float = SOCKET_TIMEOUT) -> None:
        self.prefix = prefix
        self.lease = lease
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), RETRIES,
                      supported_errors=(RedisConnectionError,))  # not a timeout: not twice
        self._redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=min(timeout, CONNECT_TIMEOUT),
            health_check_interval=30, retry=retry)
        self._expiry = f"{prefix}expiry"
        self._create = self._redis.register_script(CREATE)
        self._save = self._redis.register_script(SAVE)
        self._load = self._redis.register_script(LOAD)
        self._delete = self._redis.register_script(DELETE)
        self._view = self._redis.register_script(VIEW_LUA)
        self._viewed = self._redis.register_script(SESSION_OF_LUA)
        self._sweep = self._redis.register_script(SWEEP)
        self._count = self._redis.register_script(COUNT)
        self._guard = threading.Lock()
        self._local_locks = LocalLocks()
        self._held: dict[str, Lock] = {}  # session id -> this process's Redis lock on it
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _parts_key(self, session_id: str) -> str:
        return f"{self.prefix}p:{session_id}"

    def _blob_key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def _version_key(self, session_id: str) -> str:
        return f"{self.prefix}v:{session_id}"

    def _lock_key(self, session_id: str) -> str:
        return f"{self.prefix}lock:{session_id}"

    def _view_key(self, session_id: str) -> str:
        return f"{self.prefix}w:{session_id}"

    def _viewed_key(self, token: str) -> str:
        return f"{self.prefix}t:{token}"

    def load(self, session_id: str) -> list[bytes] | None:
        """Return the parts unless unknown or expired (Redis drops them at their TTL)."""
        with _answered():
            flat = self._load(keys=[self._parts_key(session_id), self._blob_key(session_id)])
        if not flat:
            return None
        if any(isinstance(item, str) for item in flat):
            raise TypeError("the redis store needs raw bytes: drop decode_responses from the URL")
        found = {int(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        return [found[i] for i in sorted(found)]

    def version(self, session_id: str) -> int | None:
        """Return the session's version unless unknown or expired."""
        with _answered():
            value = self._redis.get(self._version_key(session_id))
        return None if value is None else int(value)

    def create(self, session_id: str, parts: Sequence[bytes], ttl: float, cap: int,
               version: int = 0) -> None:
        """Store a new session within the cap (sweeping first when full), atomically."""
        keys = [self._parts_key(session_id), self._expiry, self._version_key(session_id),
                self._view_key(session_id)]
        with _answered():  # saved or not, a new session nobody knows of changes nothing
            stored = self._create(keys=keys, args=[session_id, _ms(ttl), cap, version,
                                                   self.prefix, *parts])
        if not stored:
            raise StoreFull

    def save(self, session_id: str, parts: Sequence[bytes | None], ttl: float,
             version: int = 0) -> None:
        """Save the parts given (None: kept) and the version, and renew the lifetime, if
        this process still holds the lock."""
        with self._guard:
            held = self._held.get(session_id)
        token = _token(held)
        keys = [self._parts_key(session_id), self._expiry, self._lock_key(session_id),
                self._version_key(session_id), self._blob_key(session_id),
                self._view_key(session_id)]
        changed = [item for i, part in enumerate(parts) if part is not None
                   for item in (i, part)]
        with _answered(changing=True):
            answer = self._save(keys=keys, args=[session_id, _ms(ttl), token, version,
                                                 len(parts), self.prefix, *changed])
        if answer == -1:
            raise LeaseLost(session_id)
        if isinstance(answer, list):
            raise MissingPart(int(answer[1]))

    def delete(self, session_id: str) -> bool:
        """Remove the session."""
        keys = [self._parts_key(session_id), self._expiry, self._version_key(session_id),
                self._blob_key(session_id), self._view_key(session_id)]
        with _answered(changing=True):
            return bool(self._delete(keys=keys, args=[session_id, self.prefix]))

    def view_token(self, session_id: str, proposed: str) -> str | None:
        """Return the live session's view token, recording `proposed` (with the session's
        TTL) when it has none; one script, atomic (a retried one returns the same)."""
        keys = [self._version_key(session_id), self._view_key(session_id),
                self._viewed_key(proposed)]
        with _answered():
            answer = self._view(keys=keys, args=[session_id, proposed])
        if answer == -1:
            raise ViewTokenTaken
        return _text(answer)

    def session_of_view(self, token: str) -> str | None:
        """Return the id of the live session the view token names, or None."""
        with _answered():
            return _text(self._viewed(keys=[self._viewed_key(token)], args=[self.prefix]))

    @contextmanager
    def lock(self, session_id: str, timeout: float) -> Iterator[None]:
        """Hold the session's lock against other threads, processes and replicas."""
        deadline = time.monotonic() + timeout
        with self._local_locks.hold(session_id, timeout):
            with _answered():
                held = self._acquire(session_id, deadline)
            with self._guard:
                self._held[session_id] = held
            self._start_renewer()
            try:
                yield
            finally:
                with self._guard:
                    self._held.pop(session_id, None)
                _release(held, session_id)

    def _acquire(self, session_id: str, deadline: float) -> Lock:
        """Take the Redis lock, polling a live holder's lease until the deadline."""
        held: Lock = self._redis.lock(self._lock_key(session_id), timeout=self.lease,
                                      thread_local=False)
        delays = backoff()
        while not held.acquire(blocking=False):
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise LockTimeout(session_id)
            time.sleep(delay)
        return held

    def _start_renewer(self) -> None:
        with self._guard:
            if self._renewer is None and not self._stop.is_set():
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name=f"redis-lock-renewer-{self.prefix}")
                self._renewer.start()

    def _renew(self) -> None:
        """Extend every held lease to a full lease, `RENEWALS_PER_LEASE` times a lease."""
        while not self._stop.wait(self.lease / RENEWALS_PER_LEASE):
            with self._guard:
                held = list(self._held.items())
            for session_id, lock in held:
                try:
                    lock.extend(self.lease, replace_ttl=True)
                except redis.exceptions.LockError:
                    with self._guard:
                        still_held = self._held.get(session_id) is lock
                    if still_held:  # not merely released since the snapshot
                        log.warning("lost the lease on session %s while holding it", session_id)
                except redis.RedisError as err:
                    log.warning("could not renew the lease on session %s: %s", session_id, err)

    def sweep(self) -> int:
        """Forget expired ids (their blobs are already gone by TTL); return how many."""
        with _answered():
            return int(self._sweep(keys=[self._expiry]))

    def count(self) -> int:
        """Return the number of live sessions."""
        with _answered():
            return int(self._count(keys=[self._expiry]))

    def ping(self) -> bool:
        """Return True when Redis answers."""
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Stop renewing and release the connections."""
        self._stop.set()
        renewer = self._renewer
        if renewer is not None:
            renewer.join(timeout=5)
        self._redis.close()


def failure(err: BaseException, changing: bool = False) -> ServiceError | None:
    """Return what a Redis error means to a client — no memory (`StorageFull`), no answer
    (`StoreUnavailable`; `changing`: a change was sent, so it may have been saved) — or
    None for any other error."""
    if isinstance(err, OutOfMemoryError) or (
            isinstance(err, ResponseError) and str(err).startswith("OOM ")):
        return StorageFull()
    if isinstance(err, RedisConnectionError | RedisTimeoutError):
        return StoreUnavailable(UNSURE) if changing else StoreUnavailable()
    return None


@contextmanager
def _answered(changing: bool = False) -> Iterator[None]:
    """Raise a Redis error of the block as what it means to a client (`failure`)."""
    try:
        yield
    except redis.RedisError as err:
        known = failure(err, changing)
        if known is None:
            raise
        raise known from err


def _text(value: Any) -> str | None:
    """Return a reply's bytes as text (None stays None)."""
    return value.decode() if isinstance(value, bytes) else value


def _token(held: Lock | None) -> bytes:
    """Return the held lock's token, or b'' when the caller holds none (an unfenced save)."""
    if held is None:
        return b""
    token: Any = held.local.token
    return token if isinstance(token, bytes) else b""


def _release(held: Lock, session_id: str) -> None:
    """Release the lock; if its lease was lost meanwhile, the new holder keeps it."""
    try:
        held.release()
    except redis.exceptions.LockError:
        log.warning("the lease on session %s ran out before release", session_id)
    except redis.RedisError as err:
        log.warning("could not release session %s (its lease will expire): %s", session_id, err)
