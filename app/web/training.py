"""Training from the page: Step, ×10…, Play frames and Pause, the phase stepper, undo.
"""


import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.sessions.errors import ServiceError
from app.sessions.service import SessionService

from . import forms
from .common import (
    EVERY,
    FRAME_SECONDS,
    HEAVY_EVERY,
    RESULTS,
    Fields,
    FormFields,
    Service,
    clear_slot,
    error_html,
    render_panels,
    toast,
    view_of,
)

router = APIRouter(include_in_schema=False)


@router.post("/s/{session_id}/step")
def step(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train n iterations (Step, ×10, ×100, ×1000)."""
    view = view_of(request, form)
    try:
        n = int(forms.number(request.query_params.get("n", 1), "step", integer=True, low=1))
        outcome = service.step(session_id, n)
    except ServiceError as err:
        if err.status == 404:
            raise
        return error_html(err, "step")
    s = outcome.session
    note = ""
    if outcome.truncated:
        note = toast(f"Ran {outcome.iterations_run:,} of {n:,} iterations (the time budget of "
                      f"one request); press again to continue.")
    elif s.status == "diverged" and s.divergence:
        note = toast(f"Diverged at step {s.divergence.step}: training paused.")
    return render_panels(request, service, s, view, RESULTS, clear_slot("step") + note)


@router.post("/s/{session_id}/play")
def play(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train one frame of play and return the refreshed panels and the next frame."""
    view = view_of(request, form)
    frame = int(forms.number(form.get("frame", 0), "frame", integer=True, low=0))
    started = time.perf_counter()
    outcome = service.play_frame(session_id, PLAYERS.slice(session_id), start=frame == 0)
    if outcome is None:
        return render_panels(request, service, service.get(session_id), view,
                       ("player", "toolbar", "banners"))
    s = outcome.session
    heavy = frame % HEAVY_EVERY == 0
    blocks = ["player", "toolbar", "banners", "plane", "diagram", "loss"]
    if heavy:
        blocks += ["stepper", "walkthrough", "matrices", "diagnostics", "distributions"]
    elapsed = time.perf_counter() - started
    rate = f"{outcome.iterations_run / max(elapsed, 1e-6):,.0f} iterations/s"
    return render_panels(request, service, s, view, blocks, playing=s.playing, frame=frame,
                         rate=rate)


class Players:
    """Sessions this process played lately: many at once share the compute of a frame.

    One playing session trains FRAME_SECONDS per frame; n of them train FRAME_SECONDS / n
    each (at least MIN_SLICE), so twenty classroom tabs each keep a fluid frame rate
    instead of queueing behind each other's training.
    """

    WINDOW = 1.0  # seconds a frame counts a session as playing
    MIN_SLICE = 0.003

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._guard = threading.Lock()

    def slice(self, session_id: str) -> float:
        """Record a frame of this session; return its share of FRAME_SECONDS."""
        now = time.monotonic()
        with self._guard:
            self._seen[session_id] = now
            for sid in [k for k, t in self._seen.items() if now - t > self.WINDOW]:
                del self._seen[sid]
            active = len(self._seen)
        return max(self.MIN_SLICE, FRAME_SECONDS / active)


PLAYERS = Players()


@router.post("/s/{session_id}/pause")
def pause(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Stop playing (in every tab)."""
    s = service.set_playing(session_id, False)
    return render_panels(request, service, s, view_of(request, form), EVERY)


@router.post("/s/{session_id}/phase")
def phase(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Advance the phase stepper one phase (or start over)."""
    action = str(form.get("action", "next"))
    if action not in ("next", "restart"):
        action = "next"
    s, _ = service.advance_phase(session_id, action)
    return render_panels(request, service, s, view_of(request, form), RESULTS)


@router.post("/s/{session_id}/undo")
def undo(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Undo the last edit or training run."""
    return _travel(session_id, request, service, service.undo, form)


@router.post("/s/{session_id}/redo")
def redo(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Redo what undo took back."""
    return _travel(session_id, request, service, service.redo, form)


def _travel(session_id: str, request: Request, service: SessionService, move: Any,
            form: FormFields) -> HTMLResponse:
    try:
        s = move(session_id)
    except ServiceError as err:
        if err.status == 404:
            raise
        return HTMLResponse(toast(err.message), headers={"HX-Reswap": "none"})
    return render_panels(request, service, s, view_of(request, form), EVERY)


# ---------------------------------------------------------------------------- tools
