"""What the SQLite store's failures mean to a client.

A write that finds no space (`SQLITE_FULL`, ENOSPC, EDQUOT) raises `StorageFull` (507;
the transaction was rolled back) and is remembered until a write succeeds: meanwhile
`ping` tries a one-row write, so a readiness probe fails while writes would, and
recovers when space is freed. A database locked past the busy timeout raises
`StoreUnavailable` (503), and so does an fsync that fails after the commit (`UNSURE`:
the change may be kept, so "nothing was changed" would be false). Reads never write: a
full disk leaves every stored session readable.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import NoReturn

from ..errors import ServiceError, StorageFull, StoreUnavailable

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})  # an OSError that means a full disk
UNSURE = ("The disk did not confirm the change ({}): it may or may not have been kept. "
          "Reload the session before trying again.")


def failure(err: BaseException) -> ServiceError | None:
    """Return what a SQLite or file error means to a client — no space (`StorageFull`),
    no answer in time (`StoreUnavailable`) — or None for any other error."""
    if isinstance(err, sqlite3.Error):
        code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code
        if code == sqlite3.SQLITE_FULL:
            return StorageFull()
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreUnavailable()
    elif isinstance(err, OSError) and err.errno in NO_SPACE:
        return StorageFull()
    return None


def reraise(err: BaseException) -> NoReturn:
    """Raise what `err` means to a client (`failure`), or `err` itself."""
    known = failure(err)
    if known is None:
        raise err
    raise known from err
