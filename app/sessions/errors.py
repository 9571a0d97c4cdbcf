"""Errors the session service raises; the web layers turn them into the one JSON shape."""

from __future__ import annotations

from typing import Any

from app.engine.spec import SpecError


class ServiceError(Exception):
    """A refusal with an HTTP status, a code, a message, and the field and limit if any."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 limit: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.limit = limit

    @classmethod
    def from_spec(cls, err: SpecError, prefix: str = "") -> ServiceError:
        """Return a 422 for a spec or data problem."""
        field = f"{prefix}{err.field}" if err.field else prefix.rstrip(".") or None
        return cls(422, "invalid", err.message, field, err.limit)


def not_found() -> ServiceError:
    """Return the 404 for an unknown, expired or malformed session id."""
    return ServiceError(404, "not_found", "No such session (it may have expired or been "
                        "deleted).")


def over_limit(field: str, message: str, limit: Any, status: int = 422) -> ServiceError:
    """Return the refusal for a request over one of the limits."""
    return ServiceError(status, "limit_exceeded", message, field, limit)
