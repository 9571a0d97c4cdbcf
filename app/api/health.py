"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def get_health() -> dict[str, str]:
    """Answer cheaply that the process serves requests (no store access)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def get_ready(request: Request) -> dict[str, str] | JSONResponse:
    """Answer whether the store is reachable."""
    if request.app.state.service.store.ping():
        return {"status": "ready", "store": request.app.state.settings.store}
    return JSONResponse({"error": {"code": "unavailable", "message": "The store does not "
                                   "answer.", "field": None, "limit": None}}, status_code=503)
