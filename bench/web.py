"""Web benchmark: rendering the session page, a fragment after an edit, and live play (issue 4).

Two nets: the origin (2-3-3-2 sigmoid, 2 rows) and a 2-8-8-8-1 tanh/sigmoid net on 200
seeded points, both created through the JSON API.

- Server time, in-process: the ASGI app (`create_app` with the SQLite store in a temporary
  directory) called through `httpx.ASGITransport`, no network. Each session is stepped
  `PREFILL_STEPS` times first, so its undo stack is full (the steady state of a session in
  use). Timed inside the server (`ServerClock`: from the app's call to its last byte
  sent; the client's round trip is kept beside it): `GET /s/{id}` (the whole page) and
  `POST /s/{id}/cell` as HTMX sends it (`HX-Request: true`, a changing input cell), and
  `SessionService.get` alone (loading the session from the store), which every request
  pays.
- Live play, over HTTP on a real uvicorn (one worker): the client posts `/s/{id}/play`
  frames back-to-back, taking the next frame number from each answer, as the page's
  self-replacing trigger does (the browser also waits the trigger's delay; we do not).
  One session of each net for `PLAY_SECONDS`, then `PLAYERS` origin sessions at once for
  `CROWD_SECONDS`. Server CPU per frame comes from /proc/<pid>/stat; iterations/s from
  the step counter (`GET /api/sessions/{id}`) before and after, and as the page reports it.

Targets (from the issue) are reported, never enforced.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
from app.web.training import HEAVY_SECONDS, PLAY_SLICE, PLAY_SLICE_MAPS

from app.main import create_app
from app.settings import Settings

from .api import REQUEST_TIMEOUT, Call, Connection, LocalServer, cpu_seconds, create_sessions
from .common import Report

RENDERS = 30  # timed requests of each kind per net (after WARMUPS)
WARMUPS = 3
RENDER_SECONDS = 8.0  # a kind stops early past this
PREFILL_STEPS = 50  # steps before the render timings: the undo stack full (undo_depth)
PLAY_SECONDS = 5.0  # one playing session
PLAYERS = 20  # sessions playing at once
CROWD_SECONDS = 8.0
MAX_FRAMES = 10_000  # per session and run (a bound)
PAGE_P50_TARGET_MS = 50.0
CELL_P50_TARGET_MS = 15.0
FRAME_CPU_TARGET_MS = 5.0  # server CPU per frame, origin net
SOLO_FPS_TARGET = 20.0
CROWD_FPS_TARGET = 5.0  # each of PLAYERS sessions
VIEW_FORM = [("v_decimals", "7"), ("v_augmented", "0"), ("v_augmented", "1"),
             ("v_transpose", "0"), ("v_obs", "0"), ("v_log", "0"), ("v_all", "0")]
HTMX = (("HX-Request", "true"),)
NEXT_FRAME = re.compile(rb'"frame":\s*(\d+)')  # hx-vals of the next frame's trigger
RATE = re.compile(rb"([\d,]+) iterations/s")
DELAY = re.compile(rb'hx-trigger="load(?: delay:(\d+)ms)?"')  # the next frame's trigger
HEADERS = ["measure", "net", "n", "p50 ms", "p90 ms", "frames/s", "CPU ms/frame",
           "iterations/s", "target", "result"]


def circle_body(rows: int = 200) -> dict[str, Any]:
    """Return a 2-8-8-8-1 tanh/sigmoid net on `rows` seeded points, labelled inside r = 3."""
    points = np.random.default_rng(0).uniform(-6.0, 6.0, size=(rows, 2))  # (rows, 2)
    inside = (np.hypot(points[:, 0], points[:, 1]) < 3.0).astype(float)[:, None]  # (rows, 1)
    return {"layers": [2, 8, 8, 8, 1], "hidden_activation": "tanh",
            "output_activation": "sigmoid", "loss": "binary_cross_entropy",
            "init": {"scheme": "xavier_uniform", "seed": 0},
            "optimizer": {"name": "sgd", "learning_rate": 0.03},
            "inputs": points.tolist(), "targets": inside.tolist(), "title": "bench circle"}


NETS: dict[str, dict[str, Any]] = {"origin 2-3-3-2": {"example": "origin"},
                                   "2-8-8-8-1 × 200": circle_body()}


def _ms(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99]).tolist()
    return {"n": int(ms.size), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
            "min_ms": float(ms.min()), "max_ms": float(ms.max())}


# ---------------------------------------------------------------------------- in-process
Send = Callable[[int], Awaitable[httpx.Response]]


class ServerClock:
    """The ASGI app, timed: how long each HTTP request spent inside the server (from the
    app's call to its return, after the response's last byte was sent), without the
    client's own work (building the request, reading a response of up to ~400 kB)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the app and remember how long it took."""
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = time.perf_counter() - began


async def _timed(send: Send, count: int,
                 clock: ServerClock) -> tuple[list[float], list[float], Counter[int], int]:
    """Call `send(i)` WARMUPS + count times (within RENDER_SECONDS); time the last ones:
    (server times, client round trips, statuses, the last body's size)."""
    times: list[float] = []
    trips: list[float] = []
    statuses: Counter[int] = Counter()
    size = 0
    deadline = time.perf_counter() + RENDER_SECONDS
    for i in range(WARMUPS + count):
        began = time.perf_counter()
        r = await send(i)
        elapsed = time.perf_counter() - began
        if i >= WARMUPS:
            times.append(clock.last)
            trips.append(elapsed)
            statuses[r.status_code] += 1
            size = len(r.content)
        if began > deadline and i >= WARMUPS + 3:
            break
    return times, trips, statuses, size


async def _render_case(client: httpx.AsyncClient, name: str, body: dict[str, Any],
                       service_get: Callable[[str], object],
                       clock: ServerClock) -> list[dict[str, Any]]:
    r = await client.post("/api/sessions", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"creating {name}: {r.status_code} {r.text[:200]}")
    sid = r.json()["id"]
    for _ in range(PREFILL_STEPS):
        r = await client.post(f"/api/sessions/{sid}/step", json={"iterations": 1})
        if r.status_code != 200:
            raise RuntimeError(f"stepping {name}: {r.status_code} {r.text[:200]}")
    out = []
    page = await _timed(lambda _: client.get(f"/s/{sid}"), RENDERS, clock)
    out.append({"measure": "GET /s/{id}", "net": name, "statuses": dict(page[2]),
                "bytes": page[3], **_ms(page[0]),
                "roundtrip_p50_ms": float(np.median(page[1]) * 1e3)})

    def cell(i: int) -> Awaitable[httpx.Response]:
        form = [*VIEW_FORM, ("kind", "inputs"), ("row", "0"), ("column", "0"),
                ("value", f"{0.25 + 0.001 * i:.3f}")]
        return client.post(f"/s/{sid}/cell", content=urlencode(form), headers={
            "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"})

    edit = await _timed(cell, RENDERS, clock)
    out.append({"measure": "POST /s/{id}/cell", "net": name, "statuses": dict(edit[2]),
                "bytes": edit[3], **_ms(edit[0]),
                "roundtrip_p50_ms": float(np.median(edit[1]) * 1e3)})
    loads = []
    for _ in range(RENDERS):
        began = time.perf_counter()
        service_get(sid)
        loads.append(time.perf_counter() - began)
    out.append({"measure": "SessionService.get", "net": name, "statuses": {}, "bytes": 0,
                **_ms(loads)})
    return out


def render_timings() -> list[dict[str, Any]]:
    """Time page and fragment renders of each net in-process (ASGI, SQLite store)."""
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        app = create_app(Settings(store="sqlite", data_dir=Path(tmp)))
        service = app.state.service

        async def main() -> list[dict[str, Any]]:
            clock = ServerClock(app)
            transport = httpx.ASGITransport(app=clock)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                         timeout=60.0) as client:
                out = []
                for name, body in NETS.items():
                    out += await _render_case(client, name, body, service.get, clock)
                return out

        try:
            return asyncio.run(main())
        finally:
            service.store.close()


# ---------------------------------------------------------------------------- live play
@dataclass
class Player:
    """One client playing one session: frames, their latencies, the page's rates."""

    sid: str
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # "N iterations/s" of each frame
    statuses: Counter[int] = field(default_factory=Counter)
    delay_ms: int | None = None  # the trigger's delay a browser would wait
    stopped: bool = False  # the server stopped the play (no next frame)


def _form(frame: int) -> bytes:
    return urlencode([*VIEW_FORM, ("frame", str(frame))]).encode()


async def play(port: int, player: Player, seconds: float) -> None:
    """Post play frames back-to-back for `seconds`, then pause."""
    conn = Connection(port)
    frame = 0
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end and player.frames < MAX_FRAMES:
            call = Call("POST", f"/s/{player.sid}/play", _form(frame),
                        "application/x-www-form-urlencoded", HTMX)
            began = time.perf_counter()
            status, body = await asyncio.wait_for(conn.request(call.encode()), REQUEST_TIMEOUT)
            player.latencies.append(time.perf_counter() - began)
            player.statuses[status] += 1
            player.frames += 1
            if (m := RATE.search(body)) is not None:
                player.rates.append(float(m[1].replace(b",", b"")))
            if (d := DELAY.search(body)) is not None:
                player.delay_ms = int(d[1] or 0)
            following = [int(n) for n in NEXT_FRAME.findall(body)]
            if status != 200 or max(following, default=0) <= frame:
                player.stopped = True
                break
            frame = max(following)
        pause = Call("POST", f"/s/{player.sid}/pause", urlencode(VIEW_FORM).encode(),
                     "application/x-www-form-urlencoded", HTMX)
        await asyncio.wait_for(conn.request(pause.encode()), REQUEST_TIMEOUT)
    finally:
        conn.close()


def _steps(client: httpx.Client, ids: list[str]) -> list[int]:
    return [int(client.get(f"/api/sessions/{i}").json()["step"]) for i in ids]


def play_run(server: LocalServer, ids: list[str], seconds: float) -> dict[str, Any]:
    """Play every session at once for `seconds`; return frames, CPU and iterations."""
    players = [Player(i) for i in ids]
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        before = _steps(client, ids)
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()

        async def main() -> None:
            await asyncio.gather(*(play(server.port, p, seconds) for p in players))

        asyncio.run(main())
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0
        after = _steps(client, ids)
    frames = sum(p.frames for p in players)
    per_session = [p.frames / wall for p in players]
    iterations = [b - a for a, b in zip(before, after, strict=True)]
    latencies = [x for p in players for x in p.latencies]
    rates = [x for p in players for x in p.rates]
    return {
        "sessions": len(ids), "seconds": wall, "frames": frames,
        "frames_per_second_total": frames / wall,
        "frames_per_second_per_session": per_session,
        "frames_per_second_min": min(per_session),
        "frames_per_second_median": statistics.median(per_session),
        "server_cpu_seconds": cpu, "server_cpu_ms_per_frame": 1e3 * cpu / max(1, frames),
        "server_cpu_cores": cpu / wall,
        "iterations": iterations, "iterations_per_second_total": sum(iterations) / wall,
        "iterations_per_second_reported_median": statistics.median(rates) if rates else None,
        "frame_latency": _ms(latencies) if latencies else None,
        "statuses": dict(sum((p.statuses for p in players), Counter())),
        "stopped_early": sum(p.stopped for p in players),
        "trigger_delay_ms": next((p.delay_ms for p in players if p.delay_ms is not None),
                                 None),
    }


def play_timings() -> dict[str, Any]:
    """Start uvicorn; play one session of each net, then PLAYERS origin sessions at once."""
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, \
            LocalServer(Path(tmp)) as server:
        solo = {name: play_run(server, create_sessions(server.url, body, 1), PLAY_SECONDS)
                for name, body in NETS.items()}
        crowd_ids = create_sessions(server.url, NETS["origin 2-3-3-2"], PLAYERS)
        crowd = play_run(server, crowd_ids, CROWD_SECONDS)
    return {"solo": solo, "crowd": crowd}


# ---------------------------------------------------------------------------- report
def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _render_row(r: dict[str, Any]) -> list[str]:
    target = {"GET /s/{id}": PAGE_P50_TARGET_MS, "POST /s/{id}/cell": CELL_P50_TARGET_MS}
    t = target.get(r["measure"])
    return [r["measure"], r["net"], str(r["n"]), f"{r['p50_ms']:.1f}", f"{r['p90_ms']:.1f}",
            "—", "—", "—", f"p50 ≤ {t:g} ms" if t else "—",
            _verdict(r["p50_ms"] <= t) if t else "—"]


def _play_row(measure: str, net: str, p: dict[str, Any], fps: float, target: str,
              result: str) -> list[str]:
    lat = p["frame_latency"] or {"p50_ms": float("nan"), "p90_ms": float("nan")}
    reported = p["iterations_per_second_reported_median"]
    return [measure, net, f"{p['frames']:,}", f"{lat['p50_ms']:.1f}", f"{lat['p90_ms']:.1f}",
            f"{fps:.1f}", f"{p['server_cpu_ms_per_frame']:.1f}",
            f"{p['iterations_per_second_total']:,.0f}"
            + (f" ({reported:,.0f})" if reported is not None else ""), target, result]


def run() -> Report:
    """Time renders in-process, then live play over HTTP; return the table and the data."""
    renders = render_timings()
    plays = play_timings()
    solo_origin = plays["solo"]["origin 2-3-3-2"]
    crowd = plays["crowd"]
    passed = {
        "page_p50": {r["net"]: r["p50_ms"] <= PAGE_P50_TARGET_MS
                     for r in renders if r["measure"] == "GET /s/{id}"},
        "cell_p50": {r["net"]: r["p50_ms"] <= CELL_P50_TARGET_MS
                     for r in renders if r["measure"] == "POST /s/{id}/cell"},
        "frame_cpu_origin": solo_origin["server_cpu_ms_per_frame"] <= FRAME_CPU_TARGET_MS,
        "solo_fps_origin": solo_origin["frames_per_second_total"] >= SOLO_FPS_TARGET,
        "crowd_fps_each": crowd["frames_per_second_min"] >= CROWD_FPS_TARGET,
    }
    rows = [_render_row(r) for r in renders]
    for name, p in plays["solo"].items():
        fps = p["frames_per_second_total"]
        if name == "origin 2-3-3-2":
            target = f"≥ {SOLO_FPS_TARGET:g}/s; CPU ≤ {FRAME_CPU_TARGET_MS:g} ms"
            result = (f"{_verdict(passed['solo_fps_origin'])}; "
                      f"{_verdict(passed['frame_cpu_origin'])}")
        else:
            target = result = "—"
        rows.append(_play_row("play, 1 session", name, p, fps, target, result))
    rows.append(_play_row(f"play, {PLAYERS} sessions: slowest", "origin 2-3-3-2", crowd,
                          crowd["frames_per_second_min"], f"≥ {CROWD_FPS_TARGET:g}/s each",
                          _verdict(passed["crowd_fps_each"])))
    rows.append(_play_row(f"play, {PLAYERS} sessions: all", "origin 2-3-3-2", crowd,
                          crowd["frames_per_second_total"], "—", "—"))
    delay = solo_origin["trigger_delay_ms"]
    notes = [
        f"Renders: in-process ASGI (httpx.ASGITransport), SQLite store; each session stepped "
        f"{PREFILL_STEPS} times first (undo stack full); {WARMUPS} warm-ups, then up to "
        f"{RENDERS} timed. Cell edits are HTMX posts of inputs[0][0] with a new value. "
        "p50/p90 = time inside the server; with the client's round trip, p50 "
        + ", ".join(f"{r['measure']} {r['net']} {r['roundtrip_p50_ms']:.1f} ms"
                    for r in renders if "roundtrip_p50_ms" in r) + ".",
        "SessionService.get = loading and decoding the session from the store, which every "
        "page, fragment and frame pays at least once.",
        f"Play: uvicorn, one worker; fresh sessions (play frames coalesce into one undo "
        f"entry); frames posted back-to-back for {PLAY_SECONDS:g} s (1 session) and "
        f"{CROWD_SECONDS:g} s ({PLAYERS} sessions). A browser also waits the trigger's "
        f"delay ({delay} ms) between frames.",
        f"A frame trains {1e3 * PLAY_SLICE:g} ms (app.web.training.PLAY_SLICE; "
        f"{1e3 * PLAY_SLICE_MAPS:g} ms in a 2-D dataset session) and renders "
        "the counters, diagram, loss curve and outputs; the heavy panels (matrices, "
        f"walkthrough, diagnostics) come at most every {HEAVY_SECONDS:g} s per session, "
        "and all of them at Pause.",
        "iterations/s = step counter gained ÷ wall time (in brackets: the page's own "
        "'training… N iterations/s', median over frames). CPU ms/frame = server process "
        "CPU ÷ frames.",
        f"{PLAYERS} sessions: per-session frames/s min {crowd['frames_per_second_min']:.2f}, "
        f"median {crowd['frames_per_second_median']:.2f}, total "
        f"{crowd['frames_per_second_total']:.1f}; server busy "
        f"{crowd['server_cpu_cores']:.2f} cores; statuses {crowd['statuses']}.",
    ]
    stopped = {n: p["stopped_early"] for n, p in [*plays["solo"].items(), ("crowd", crowd)]
               if p["stopped_early"]}
    if stopped:
        notes.append(f"Play stopped by the server before the time was up: {stopped}.")
    data = {
        "renders": renders, "play": plays, "passed": passed,
        "targets": {"page_p50_ms": PAGE_P50_TARGET_MS, "cell_p50_ms": CELL_P50_TARGET_MS,
                    "frame_cpu_ms_origin": FRAME_CPU_TARGET_MS,
                    "solo_frames_per_second": SOLO_FPS_TARGET,
                    "crowd_frames_per_second_each": CROWD_FPS_TARGET},
        "prefill_steps": PREFILL_STEPS, "players": PLAYERS,
    }
    return Report("web", "Web pages: render, edit fragment, live play", HEADERS, rows, data,
                  notes)
