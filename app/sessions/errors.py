"""Errors the session service raises; the web layers turn them into the one JSON shape.

Besides refusals of a request, two failures of the store itself are `ServiceError`s, so
that every caller — the JSON API, the pages, the live streams — answers them as it answers
any refusal: `StorageFull` (507: a write found no space — disk, quota or Redis memory) and
`StoreUnavailable` (503 with Retry-After: the store does not answer). The stores raise
them in place of their drivers' errors; both promise that nothing was changed.
"""

from __future__ import annotations

from typing import Any

from app.engine.spec import SpecError

STORE_RETRY_SECONDS = 5  # the Retry-After of a store that does not answer


class ServiceError(Exception):
    """A refusal with an HTTP status, a code, a message, and the field and limit if any
    (`retry_after`: seconds a client should wait before trying again, if it matters)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 limit: Any = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.limit = limit
        self.retry_after = retry_after

    @classmethod
    def from_spec(cls, err: SpecError, prefix: str = "") -> ServiceError:
        """Return a 422 for a spec or data problem."""
        field = f"{prefix}{err.field}" if err.field else prefix.rstrip(".") or None
        return cls(422, "invalid", err.message, field, err.limit)


class StorageFull(ServiceError):
    """A write failed for lack of space (disk full, quota, Redis at maxmemory); the
    stored session is as it was."""

    def __init__(self) -> None:
        super().__init__(507, "storage_full", "The server's storage is full; nothing was "
                         "changed. Try again later.")


class StoreUnavailable(ServiceError):
    """The session store did not answer (down, timing out, or locked past its timeout)."""

    def __init__(self, message: str = "The session store is unavailable; nothing was "
                 "changed. Try again in a few seconds.") -> None:
        super().__init__(503, "unavailable", message, retry_after=STORE_RETRY_SECONDS)


def not_found() -> ServiceError:
    """Return the 404 for an unknown, expired or malformed session id."""
    return ServiceError(404, "not_found", "No such session (it may have expired or been "
                        "deleted).")


def over_limit(field: str, message: str, limit: Any, status: int = 422) -> ServiceError:
    """Return the refusal for a request over one of the limits."""
    return ServiceError(status, "limit_exceeded", message, field, limit)
