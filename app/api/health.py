"""Liveness and readiness probes.

`/readyz` answers 503 while the store does not answer, and — for a store that remembers a
write that found no space (SQLite) — while a write still fails: a replica whose disk is
full is taken out of rotation until space is freed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.errors import error_response
from app.api.schemas import ErrorOut
from app.sessions.errors import STORE_RETRY_SECONDS

router = APIRouter(tags=["health"])


def _example(body: dict[str, Any]) -> dict[str, Any]:
    """Return an OpenAPI response entry showing `body` (the route's code is unchanged)."""
    return {"content": {"application/json": {"example": body}}}


@router.get("/healthz", responses={200: _example({"status": "ok"})})
def get_health() -> dict[str, str]:
    """Answer cheaply that the process serves requests (no store access)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, responses={
    200: _example({"status": "ready", "store": "sqlite"}),
    503: {"model": ErrorOut, "description": "The store does not answer, or cannot write"}})
def get_ready(request: Request) -> dict[str, str] | JSONResponse:
    """Answer whether the store is reachable and, after a write found no space, writable."""
    if request.app.state.service.store.ping():
        return {"status": "ready", "store": request.app.state.settings.store}
    return error_response(503, "unavailable", "The session store does not answer, or cannot "
                          "write (its storage may be full).",
                          headers={"Retry-After": str(STORE_RETRY_SECONDS)})
