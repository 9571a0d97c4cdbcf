"""View tokens in the SQLite and Redis stores: their SQL and Lua, beside each other.

SQLite: one row of `views` per session that has a token. It maps the token to the id
both ways (the token is the primary key, the id is UNIQUE), so a token names one session
and a session has one token. Rows live and die with their session's row: `delete` and
the expiry sweep remove them in the same transaction (`DELETE_OF`, `DELETE_EXPIRED`), and
every read joins the live session, so a row of an expired session — or one that a
process from before view tokens left behind when it deleted its session — is never
served, and the sweep removes it. Reads are one SELECT on the reading connection;
recording goes through the store's group commit (`record`).

Redis: two keys with the session's TTL, `<prefix>w:<id>` (the token) and
`<prefix>t:<token>` (the id); `VIEW_LUA` reads or records them, `SESSION_OF_LUA` reads,
and the store's CREATE and SAVE renew them (`RENEW_LUA`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from .base import ViewTokenTaken

# ------------------------------------------------------------------ SQLite
# created with the other tables: a file from before view tokens gains it when opened
TABLE = "CREATE TABLE IF NOT EXISTS views (token TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE);"
# the live session's token: no row when the session is unknown or expired, (None,) when
# it lives without one yet
TOKEN_OF = """
SELECT v.token FROM sessions AS s LEFT JOIN views AS v ON v.id = s.id
 WHERE s.id = ? AND s.expires_at > ?
"""
SESSION_OF = """
SELECT s.id FROM views AS v JOIN sessions AS s ON s.id = v.id
 WHERE v.token = ? AND s.expires_at > ?
"""
DELETE_OF = "DELETE FROM views WHERE id = ?"
DELETE_EXPIRED = ("DELETE FROM views WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ?)"
                  " OR id NOT IN (SELECT id FROM sessions)")  # and rows an old process left


def read(db: sqlite3.Connection, session_id: str) -> tuple[bool, str | None]:
    """Return whether the session lives, and its token (None: it has none yet)."""
    row = db.execute(TOKEN_OF, (session_id, time.time())).fetchone()
    return (False, None) if row is None else (True, row[0])


def record(session_id: str, proposed: str) -> Callable[[sqlite3.Connection], str | None]:
    """Return the write that gives the live session the token `proposed` unless it has
    one; it returns the session's token (None: unknown or expired), and raises
    `ViewTokenTaken` when `proposed` is another session's."""

    def run(db: sqlite3.Connection) -> str | None:
        live, token = read(db, session_id)  # in the write transaction: no race
        if not live or token is not None:
            return token
        if db.execute("SELECT 1 FROM views WHERE token = ?", (proposed,)).fetchone():
            raise ViewTokenTaken
        db.execute("INSERT INTO views (token, id) VALUES (?, ?)", (proposed, session_id))
        return proposed
    return run


def session_of(db: sqlite3.Connection, token: str) -> str | None:
    """Return the id of the live session whose view token `token` is, or None."""
    row = db.execute(SESSION_OF, (token, time.time())).fetchone()
    return None if row is None else str(row[0])


# ------------------------------------------------------------------ Redis
# defines renew_view(view token key, key prefix, ttl ms), which gives the session's view
# token keys, if it has a token, the session's new lifetime
RENEW_LUA = """
local function renew_view(view_key, prefix, ttl)
  local token = redis.call('GET', view_key)
  if token then
    redis.call('PEXPIRE', view_key, ttl)
    redis.call('PEXPIRE', prefix .. 't:' .. token, ttl)
  end
end
"""

# KEYS: version, view token, session of the proposed token; ARGV: id, proposed token →
# the session's token (recorded now with the session's TTL if it had none), nil for an
# unknown session, -1 when the proposed token is another session's. Reads only, unless
# it records (then its first write is the one Redis at maxmemory refuses).
VIEW_LUA = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
local token = redis.call('GET', KEYS[2])
if token then return token end
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local life = {}
if ttl > 0 then life = {'PX', ttl} end  -- (-1: a session without a TTL, nor have these)
redis.call('SET', KEYS[2], ARGV[2], unpack(life))
redis.call('SET', KEYS[3], ARGV[1], unpack(life))
return ARGV[2]
"""

# KEYS: session of the token; ARGV: key prefix → the session's id while it lives, or nil
SESSION_OF_LUA = """
local id = redis.call('GET', KEYS[1])
if id and redis.call('EXISTS', ARGV[1] .. 'v:' .. id) == 1 then return id end
return false
"""
