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


PLAY_SLICE = 0.0005
"""Seconds of training in one frame of play (one player on the worker).

The trade-off, measured on the origin net: besides its training a frame costs ~4 ms of
server CPU (~1 ms the session store, ~1.1 ms the light panels, ~1.3 ms HTTP, the rest
the frame's bookkeeping), so 0.5 ms of training (~32 origin iterations; the trainer
checks its deadline every 16) keeps a frame under 5 ms: fluid frames for one player,
and twenty players on one worker still get ~9 frames/s each. A longer slice trains
more per frame but every frame, and every other player, waits for it; whatever the
store or the HTTP layer saves per frame can go to training here.
"""
PLAY_SLICE_MAPS = 0.01
"""Seconds of training in one frame of a 2-D playground session (one with a dataset).

Its frames also draw the output map and every neuron's map over the plane and score the
test data: ~16 ms of server CPU besides training on a 2-8-8-8-1 net, so the origin's
0.5 ms would leave training a thirtieth of the frame. 10 ms keeps it near two fifths:
~36 frames/s, and the page sees ~400 epochs/s on TensorFlow Playground's circle (issue
5's target is 320, ten times what TF's page shows). n such sessions playing on one
worker share it (each PLAY_SLICE at least), so a classroom's frames keep coming.
"""
MAX_PLAY_SLICE = 0.025
"""Seconds of training per frame at the fastest Play speed (the learner's choice, beside
Play: 1× = PLAY_SLICE, 10×, 50×). At 50× the origin trains ~45,000 iterations/s again,
for a frame of ~30 ms of server CPU: one learner racing to step 10,000, not a classroom."""


def play_seconds(maps: bool, players: int, speed: int) -> float:
    """Return the training time of one frame: the slice (2-D sessions share theirs among
    the 2-D players of this worker) times the chosen speed, at most MAX_PLAY_SLICE."""
    base = max(PLAY_SLICE, PLAY_SLICE_MAPS / players) if maps else PLAY_SLICE
    return min(MAX_PLAY_SLICE, base * speed)


HEAVY_SECONDS = 1.0  # banners, stepper, walkthrough, matrices, diagnostics: at most 1/s
HEAVY_RATE = 5.0  # heavy refreshes per second a worker gives all its players together
FRAME_DELAY_MS = 10  # the browser's pause between frames: ≤ ~60 frames/s, what a screen shows
LIGHT = ["toolbar", "plane", "diagram", "loss"]  # every frame, after the player's part
HEAVY = ["banners", "stepper", "walkthrough", "matrices", "diagnostics", "distributions"]


@router.post("/s/{session_id}/play")
def play(session_id: str, request: Request, service: Service, form: Fields) -> HTMLResponse:
    """Train one frame of play and return the refreshed panels and the next frame."""
    view = view_of(request, form)
    frame = int(forms.number(form.get("frame", 0), "frame", integer=True, low=0))
    started = time.perf_counter()
    heavy, players = PLAYERS.frame(session_id)
    outcome = service.play_frame(
        session_id, lambda s: play_seconds(s.problem is not None, players, view.speed),
        start=frame == 0)
    if outcome is None:  # paused (maybe in another tab): show everything as it stands
        return render_panels(request, service, service.get(session_id), view, EVERY)
    s = outcome.session
    if not s.playing:  # stopped by this frame (diverged): the final state, every panel
        return render_panels(request, service, s, view, EVERY)
    elapsed = time.perf_counter() - started
    rate = f"{outcome.iterations_run / max(elapsed, 1e-6):,.0f} iterations/s"
    first = "player" if frame == 0 else "frame"  # Play's own answer turns the button too
    blocks = [first, *LIGHT, *(HEAVY if heavy else [])]
    return render_panels(request, service, s, view, blocks, playing=True, frame=frame,
                         rate=rate, frame_delay_ms=FRAME_DELAY_MS)


class Players:
    """Sessions this process played lately, and when each last refreshed its heavy panels.

    The heavy panels of a session refresh every HEAVY_SECONDS, or less often when more
    than HEAVY_RATE × HEAVY_SECONDS sessions play (a heavy frame costs a few light ones,
    so a classroom of tabs keeps its frame rate), never on the first frame (the page is
    up to date then); the frame that ends play refreshes every panel. Training is shared
    out only in 2-D sessions (PLAY_SLICE_MAPS): at PLAY_SLICE it is a tenth of a frame,
    and many players gain nothing from less of it.
    """

    WINDOW = 1.0  # seconds a frame counts a session as playing

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}  # session → its last frame
        self._heavy: dict[str, float] = {}  # session → its last heavy refresh
        self._guard = threading.Lock()

    def frame(self, session_id: str) -> tuple[bool, int]:
        """Record a frame of this session; return whether it refreshes the heavy panels,
        and how many sessions play on this worker."""
        now = time.monotonic()
        with self._guard:
            self._seen[session_id] = now
            for sid in [k for k, t in self._seen.items() if now - t > self.WINDOW]:
                del self._seen[sid]
                self._heavy.pop(sid, None)
            active = len(self._seen)
            last = self._heavy.setdefault(session_id, now)
            heavy = now - last >= max(HEAVY_SECONDS, active / HEAVY_RATE)
            if heavy:
                self._heavy[session_id] = now
        return heavy, active


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
