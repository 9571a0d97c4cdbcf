"""Web benchmark: rendering the session page and a fragment after an edit (issue 4).

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
- Live play is measured where a learner sees it, in Chromium: `python -m bench browser`.

Targets (from the issue) are reported, never enforced.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np

from app.main import create_app
from app.settings import Settings

from .common import Report

RENDERS = 30  # timed requests of each kind per net (after WARMUPS)
WARMUPS = 3
RENDER_SECONDS = 8.0  # a kind stops early past this
PREFILL_STEPS = 50  # steps before the render timings: the undo stack full (undo_depth)
PAGE_P50_TARGET_MS = 50.0
CELL_P50_TARGET_MS = 15.0
VIEW_FORM = [("v_decimals", "7"), ("v_augmented", "0"), ("v_augmented", "1"),
             ("v_transpose", "0"), ("v_obs", "0"), ("v_log", "0"), ("v_all", "0")]
HTMX = (("HX-Request", "true"),)
HEADERS = ["measure", "net", "n", "p50 ms", "p90 ms", "kB", "target", "result"]


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


# ---------------------------------------------------------------------------- report
def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _render_row(r: dict[str, Any]) -> list[str]:
    target = {"GET /s/{id}": PAGE_P50_TARGET_MS, "POST /s/{id}/cell": CELL_P50_TARGET_MS}
    t = target.get(r["measure"])
    return [r["measure"], r["net"], str(r["n"]), f"{r['p50_ms']:.1f}", f"{r['p90_ms']:.1f}",
            f"{r['bytes'] / 1024:.1f}" if r["bytes"] else "—",
            f"p50 ≤ {t:g} ms" if t else "—", _verdict(r["p50_ms"] <= t) if t else "—"]


def run() -> Report:
    """Time page and fragment renders in-process; return the table and the data."""
    renders = render_timings()
    passed = {
        "page_p50": {r["net"]: r["p50_ms"] <= PAGE_P50_TARGET_MS
                     for r in renders if r["measure"] == "GET /s/{id}"},
        "cell_p50": {r["net"]: r["p50_ms"] <= CELL_P50_TARGET_MS
                     for r in renders if r["measure"] == "POST /s/{id}/cell"},
    }
    rows = [_render_row(r) for r in renders]
    notes = [
        f"Renders: in-process ASGI (httpx.ASGITransport), SQLite store; each session stepped "
        f"{PREFILL_STEPS} times first (undo stack full); {WARMUPS} warm-ups, then up to "
        f"{RENDERS} timed. Cell edits are HTMX posts of inputs[0][0] with a new value. "
        "p50/p90 = time inside the server; with the client's round trip, p50 "
        + ", ".join(f"{r['measure']} {r['net']} {r['roundtrip_p50_ms']:.1f} ms"
                    for r in renders if "roundtrip_p50_ms" in r) + ".",
        "Bytes: the uncompressed body (the wire carries it compressed); the page carries "
        "the instrument and no deep view (one opens on demand).",
        "SessionService.get = loading and decoding the session from the store, which every "
        "page, fragment and frame pays at least once.",
        "Live play is measured where a learner sees it: python -m bench browser.",
    ]
    data = {"renders": renders, "passed": passed,
            "targets": {"page_p50_ms": PAGE_P50_TARGET_MS, "cell_p50_ms": CELL_P50_TARGET_MS},
            "prefill_steps": PREFILL_STEPS}
    return Report("web", "Web pages: render and edit fragment", HEADERS, rows, data, notes)
