"""Play, live: each tab holds one event stream (`GET /s/{id}/live`) that trains the
session while it plays and sends the tab frames of what changed.

- Every tab's stream, on any worker or replica, ticks at the frame rate while the
  session plays; a tick trains one frame when the session's last save is at least most
  of a frame old (`SessionService.play_frame`, GAP), so however many tabs watch it
  the session trains at most one frame per GAP of an interval, and every tab shows the
  same step.
- When the last tab goes, nothing ticks: training stops at once. A session still marked
  playing whose frames stopped LEFT_SECONDS ago is paused when a page opens it afresh;
  a tab that reconnects (its `Last-Event-ID`) picks up where it was.
- A tick runs on the event loop when it is quick (a small network, on the memory or
  SQLite store: `play_frame_async`), else in worker threads: its frame is built behind
  one limiter per process; either way waiting ticks are served first come, first served,
  so under load every player slows down evenly.
- While nothing plays, a stream looks for changes every IDLE_SECONDS and tells its tab
  (`changed`), which then fetches the parts it shows as HTML.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.sessions.errors import ServiceError
from app.sessions.model import Session
from app.sessions.service import SessionService

from .frames import Changes, frame
from .panels import Service, reading
from .preferences import PLAY_SPEEDS, Prefs

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

FRAME_SECONDS = 1 / 90  # a frame interval: half again a 60 Hz display's rate, so every
# screen refresh finds a new frame waiting
FRAME_SECONDS_MAPS = 1 / 45  # 2-D problems: every frame draws each neuron's map
GAP = 0.5  # a tick trains when the last save is this share of an interval old
IDLE_SECONDS = 0.1  # how often a stream looks for changes while nothing plays
LEFT_SECONDS = 2.0  # a session marked playing whose frames stopped this long ago was left
RETRY_MS = 500  # how soon a dropped stream reconnects
PING_SECONDS = 15  # a comment on a quiet stream, so proxies keep it open
TICKS = 4  # ticks running at once in one process (they hold the GIL most of the time)

PLAY_SLICE = 0.0005
"""Seconds of training in one frame of play at 1× (an origin-sized net trains ~30
iterations in it). Besides training, a frame costs well under a millisecond of server
CPU, so many learners can play at once; Speed multiplies it (`play_seconds`)."""
PLAY_SLICE_MAPS = 0.006
"""Seconds of training in one frame of a 2-D problem at 1×, shared among the players of a
process: each frame also draws every map (~1–2 ms), so training gets most of it."""
MAX_PLAY_SLICE = 0.025  # seconds of training per frame at the fastest speed, and for Fit
SHARED_FROM = 4  # players in one process beyond which every frame trains less
LOOP_FRAME_SIZE = 50_000  # rows × parameters of a table's frame built on the event loop
# (its forward pass over every row: ~0.1 ms); a larger one is built in a thread
SEND_SECONDS = 10.0  # a tab that takes no frame for this long is dropped (it reconnects)


def play_seconds(maps: bool, players: int, speed: int) -> float:
    """Return the training time of one frame: the slice times the chosen speed, at most
    MAX_PLAY_SLICE. A 2-D session shares its slice among the players of this process
    (never below PLAY_SLICE); beyond SHARED_FROM players, every slice shrinks with their
    number, so a class's frames keep coming, each training less."""
    base = max(PLAY_SLICE, PLAY_SLICE_MAPS / max(players, 1)) if maps else PLAY_SLICE
    crowd = max(1.0, players / SHARED_FROM)
    return min(MAX_PLAY_SLICE, base * speed) / crowd


class Players:
    """The sessions this process played lately (they share the slices, `play_seconds`)."""

    WINDOW = 1.0  # seconds a frame counts a session as playing

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._guard = threading.Lock()

    def played(self, session_id: str) -> int:
        """Record a frame of this session; return how many sessions play here now."""
        now = time.monotonic()
        with self._guard:
            self._seen[session_id] = now
            for sid in [k for k, t in self._seen.items() if now - t > self.WINDOW]:
                del self._seen[sid]
            return len(self._seen)


PLAYERS = Players()
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary())


def _limiter() -> anyio.CapacityLimiter:
    """Return this event loop's limiter of ticks (made on first use, inside the loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _LIMITERS:
        _LIMITERS[loop] = anyio.CapacityLimiter(TICKS)
    return _LIMITERS[loop]


@dataclass
class Tab:
    """One tab's stream: its preferences and what it was last told."""

    session_id: str
    prefs: Prefs
    resume: bool  # a reconnect: the tab was watching already
    changes: Changes = field(default_factory=Changes)
    version: int | None = None
    step: int | None = None
    playing: bool | None = None
    layout: tuple[object, ...] | None = None
    started: bool = False


def _layout(s: Session) -> tuple[object, ...]:
    """Return what, when it changes, makes a tab fetch its parts rather than a frame."""
    recipe = json.dumps(s.problem.recipe, sort_keys=True) if s.problem else None
    return (s.spec, len(s.edits), s.inputs.shape, recipe, s.status, s.phase)


def _framed_on_loop(service: SessionService, s: Session) -> bool:
    """Return whether a frame of the session is quick enough to build on the loop."""
    return (s.problem is None and service.store.inline
            and s.inputs.shape[0] * s.spec.parameter_count() <= LOOP_FRAME_SIZE)


def _seconds(tab: Tab, s: Session, players: int) -> float:
    speed = PLAY_SPEEDS[-1] if s.play_until is not None else tab.prefs.speed
    return play_seconds(s.problem is not None, players, speed)


async def _call(service: SessionService, fn: Callable[..., T], *args: object) -> T:
    """Run a service call: on the loop when the store's reads take microseconds (memory,
    SQLite), else in a worker thread behind this loop's limiter."""
    if service.store.inline:
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter())


async def tick(service: SessionService, tab: Tab) -> tuple[list[ServerSentEvent], float]:
    """Take one turn of a tab's stream: train a frame when one is due; return the events
    to send and the interval until the next turn (from this one's start).

    A quick frame runs on the event loop from lock to commit (`play_frame_async`): no
    thread hop; a 2-D frame trains and draws its maps in a worker thread."""
    sid, readonly = tab.session_id, tab.prefs.readonly
    if not tab.started:
        tab.started = True
        if not (tab.resume or readonly):
            await anyio.to_thread.run_sync(service.release_play, sid, LEFT_SECONDS)
    s = await _call(service, service.get, sid)
    interval = FRAME_SECONDS_MAPS if s.problem is not None else FRAME_SECONDS
    if s.playing and not readonly:
        players = PLAYERS.played(sid)
        outcome = await service.play_frame_async(
            sid, lambda current: _seconds(tab, current, players), GAP * interval)
        s = outcome.session if outcome is not None else await _call(service, service.get, sid)
    events: list[ServerSentEvent] = []
    if s.version != tab.version:
        layout = _layout(s)
        back = tab.step is not None and s.progress.step < tab.step  # undone, or reset
        if not s.playing or s.playing != tab.playing or layout != tab.layout or back:
            events.append(ServerSentEvent(Changes.encode({"v": s.version}), event="changed",
                                          id=str(s.version)))
        if s.playing:
            if _framed_on_loop(service, s):
                shown = frame(service, s, tab.prefs)
            else:  # the maps: milliseconds of NumPy, off the loop
                shown = await anyio.to_thread.run_sync(frame, service, s, tab.prefs,
                                                       limiter=_limiter())
            events.append(ServerSentEvent(Changes.encode(tab.changes.diff(shown)),
                                          event="frame", id=str(s.version)))
        tab.version, tab.step, tab.playing, tab.layout = (s.version, s.progress.step,
                                                          s.playing, layout)
    return events, interval if s.playing else IDLE_SECONDS


async def _stream(service: SessionService, tab: Tab) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(comment="live", retry=RETRY_MS)
    while True:
        started = time.monotonic()
        try:
            events, interval = await tick(service, tab)
        except ServiceError as err:
            if err.status in (404, 410):  # the session was deleted or expired
                yield ServerSentEvent(Changes.encode({"message": err.message}), event="gone")
                return
            events, interval = [], IDLE_SECONDS  # busy (its lock held long): try again
        for event in events:
            yield event
        await anyio.sleep(max(0.0, started + interval - time.monotonic()))


@router.get("/s/{ref}/live")
@router.get("/v/{ref}/live")
async def live(ref: str, request: Request, service: Service) -> EventSourceResponse:
    """Stream a tab's frames while the session plays, and news of changes made elsewhere
    (a read-only tab, by the view token, watches: it never trains)."""
    s, prefs = await anyio.to_thread.run_sync(reading, request, service, ref)  # 404 first
    tab = Tab(s.id, prefs, resume="last-event-id" in request.headers)
    return EventSourceResponse(_stream(service, tab), ping=PING_SECONDS,
                               send_timeout=SEND_SECONDS,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
