"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.schemas import ErrorOut

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
    503: {"model": ErrorOut, "description": "The store does not answer"}})
def get_ready(request: Request) -> dict[str, str] | JSONResponse:
    """Answer whether the store is reachable."""
    if request.app.state.service.store.ping():
        return {"status": "ready", "store": request.app.state.settings.store}
    return JSONResponse({"error": {"code": "unavailable", "message": "The store does not "
                                   "answer.", "field": None, "limit": None}}, status_code=503)
