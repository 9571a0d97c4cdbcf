"""Browser benchmark (issue 13): Play as a learner sees it, in Debian's Chromium.

A real server (`backprop-playground serve`, SQLite) on 127.0.0.1 and Chromium driven by
Playwright at 1440 × 900. For each case the page opens the session, presses Play, lets it
run WARMUP_SECONDS, then measures PLAY_SECONDS:

- frames drawn: animation frames in which the page put a new frame of play in place
  (static/js/live.js counts them in `bpStats.drawn`), per second;
- epochs and steps seen: the page's own counters, per second;
- bytes on the wire per frame: the live stream's bytes as Chromium received them
  (compressed; the DevTools protocol's `Network.dataReceived`), per frame received;
- server CPU per frame: the server's process CPU (/proc) over the same seconds, per frame
  sent; the training of each frame is part of it (its budget is printed beside).

Also: the teaching journey (from the landing page, the symmetry question's card, Break
symmetry, Fit: seconds until the outputs are within 0.01 and Play stopped by itself), the
first load of a 2-D session on the wire (a fresh browser: every response of the
page, compressed, headers included) and LEARNERS learners playing origin sessions at once
against one server with two workers, the load generator (bench/live.py, in this process)
on the same two cores.

TensorFlow Playground, measured on this machine (bench/playground.py's note): its page
draws 60 frames/s and one epoch a frame at 2-4-2-1, about 32 at 2-8-8-8-1.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from app.web.play import PLAY_SLICE, PLAY_SLICE_MAPS

from .api import LocalServer, cpu_seconds, create_sessions
from .common import Report
from .live import count_frames, play
from .playground import engine_case

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1440, "height": 900}
WARMUP_SECONDS = 2.0
PLAY_SECONDS = 6.0
BYTES_SECONDS = 3.0
LEARNERS = 100
LEARNER_SECONDS = 10.0
LEARNER_WARMUP = 4.0
TF_FPS = {"origin": 60.0, "spiral": 32.0, "circle": 32.0}  # TF's page: 2-4-2-1, 2-8-8-8-1
TF_EPOCHS = 32.0  # epochs/s TF's page shows at 2-8-8-8-1 (one per frame)
ENGINE_THEN = 1302.0  # our engine's epochs/s at 2-8-8-8-1 (sigmoid + BCE, batch 10) on
# 2026-11-28, the machine TF Playground was measured on (bench/results/playground.json then)
TARGETS = {"origin_fps": 60.0, "spiral_fps": 30.0, "epochs_ratio": 10.0, "cpu_origin_ms": 1.5,
           "cpu_2d_ms": 3.0, "learner_fps": 10.0, "learner_min_fps": 8.0,
           "first_load_kb": 100.0, "frame_kb": 10.0, "fit_seconds": 10.0}
CASES: dict[str, dict[str, Any]] = {
    "origin": {"example": "origin"},
    "spiral": {"dataset": {"name": "spiral", "points": 250, "noise": 0.1,
                           "features": ["x1", "x2"]}, "layers": [2, 8, 8, 8, 1],
               "optimizer": {"name": "adam", "learning_rate": 0.003}, "title": "Spiral"},
    "circle": {"dataset": {"name": "circle", "points": 500, "noise": 0.0, "seed": 0,
                           "test_ratio": 0.5}, "layers": [2, 8, 8, 8, 1],
               "title": "TF's circle"},  # TF's: tanh, batch 10, SGD 0.03 (the defaults)
}
HEADERS = ["measure", "case", "ours", "TF Playground", "target", "result"]


def _counters(page: Page) -> dict[str, float]:
    return page.evaluate("""() => ({
        drawn: bpStats.drawn, frames: bpStats.frames, refreshes: window.__refreshes,
        apply: bpStats.applyMs,
        step: +document.getElementById('step-counter').dataset.step,
        epoch: +document.getElementById('epoch-counter').textContent,
        now: performance.now() / 1000})""")


def browse(page: Page, server: LocalServer, sid: str) -> dict[str, Any]:
    """Open the session, Play, and measure PLAY_SECONDS after WARMUP_SECONDS; then, with
    the DevTools protocol watching the network (which costs the page some frames),
    BYTES_SECONDS more for the bytes of each frame on the wire."""
    page.goto(f"{server.url}/s/{sid}")
    page.evaluate("""() => { window.__refreshes = 0;
        const tick = () => { window.__refreshes += 1; requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }""")
    page.locator("#play-btn").click()
    page.wait_for_function("() => bpStats.drawn > 5", timeout=30_000)
    page.wait_for_timeout(WARMUP_SECONDS * 1000)
    a, cpu0 = _counters(page), cpu_seconds(server.pid)
    page.wait_for_timeout(PLAY_SECONDS * 1000)
    b, cpu1 = _counters(page), cpu_seconds(server.pid)
    seconds = b["now"] - a["now"]
    frames = max(1.0, b["frames"] - a["frames"])
    out = {"seconds": seconds, "frames_drawn_per_second": (b["drawn"] - a["drawn"]) / seconds,
           "screen_refreshes_per_second": (b["refreshes"] - a["refreshes"]) / seconds,
           "frames_received_per_second": frames / seconds,
           "page_ms_per_frame_drawn": (b["apply"] - a["apply"]) / max(1.0, b["drawn"] - a["drawn"]),
           "epochs_per_second": (b["epoch"] - a["epoch"]) / seconds,
           "steps_per_second": (b["step"] - a["step"]) / seconds,
           "server_cpu_ms_per_frame": 1e3 * (cpu1 - cpu0) / frames,
           "server_cpu_cores": (cpu1 - cpu0) / seconds}
    out["wire_bytes_per_frame"] = _wire_bytes(page)
    page.locator("#play-btn").click()
    return out


def _wire_bytes(page: Page) -> float:
    """Return the live stream's bytes on the wire per frame, over BYTES_SECONDS (the
    stream reconnects, so the DevTools protocol sees it from its start)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    live: set[str] = set()
    wire = [0]
    cdp.on("Network.requestWillBeSent", lambda e: live.add(e["requestId"])
           if "/live" in e["request"]["url"] else None)
    cdp.on("Network.dataReceived", lambda e: wire.__setitem__(0, wire[0] + e["encodedDataLength"])
           if e["requestId"] in live else None)
    page.evaluate("bp.refresh('live')")  # a new stream, seen from its first byte
    page.wait_for_timeout(1000)
    frames0, bytes0 = page.evaluate("bpStats.frames"), wire[0]
    page.wait_for_timeout(BYTES_SECONDS * 1000)
    frames = max(1, page.evaluate("bpStats.frames") - frames0)
    cdp.detach()
    return (wire[0] - bytes0) / frames


def first_load(page: Page, url: str) -> dict[str, Any]:
    """Return the bytes on the wire of a fresh browser's first load of the page."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: dict[str, float] = {}
    urls: dict[str, str] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"],
                                                                   e["request"]["url"]))
    cdp.on("Network.dataReceived", lambda e: sizes.__setitem__(
        e["requestId"], sizes.get(e["requestId"], 0) + e["encodedDataLength"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(
        e["requestId"], e["encodedDataLength"]))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    by_kind: dict[str, float] = {}
    for rid, n in sizes.items():
        path = urls.get(rid, "").split("?")[0]
        kind = path.rsplit(".", 1)[-1] if "/static/" in path else (
            "live" if path.endswith("/live") else "page")
        by_kind[kind] = by_kind.get(kind, 0) + n
    return {"bytes": sum(sizes.values()), "by_kind": by_kind, "requests": len(sizes)}


def journey(page: Page, url: str) -> dict[str, Any]:
    """The teaching journey from the landing page: the symmetry question's card, Break
    symmetry, then Fit; return the seconds from the Fit click until the outputs are within
    0.01 of the targets and Play stopped by itself (as the page shows it)."""
    page.goto(url)
    page.locator('form.card:has(input[value="origin"])').get_by_role("button").click()
    page.locator("#symmetry-notice").get_by_role("button", name="Break symmetry").click()
    page.locator("#symmetry-ok").wait_for()
    started = time.perf_counter()
    page.locator("#controls").get_by_role("button", name=re.compile("^Fit")).click()
    page.locator("#fitted").wait_for(timeout=60_000)
    page.wait_for_function("() => document.getElementById('play-btn')"
                           ".getAttribute('aria-pressed') === 'false'", timeout=60_000)
    return {"fit_seconds": time.perf_counter() - started,
            "steps": int(page.locator("#step-counter").get_attribute("data-step") or 0)}


def browser_cases() -> dict[str, Any]:
    """Run the browser cases on one server (one worker)."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp, \
            LocalServer(Path(tmp)) as server, sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for name, body in CASES.items():
                sid = create_sessions(server.url, body, 1)[0]
                context = chromium.new_context(viewport=VIEWPORT)
                out[name] = browse(context.new_page(), server, sid)
                context.close()
            context = chromium.new_context(viewport=VIEWPORT)
            out["journey"] = journey(context.new_page(), server.url)
            context.close()
            context = chromium.new_context(viewport=VIEWPORT)
            sid = create_sessions(server.url, CASES["spiral"], 1)[0]
            out["first_load_2d"] = first_load(context.new_page(), f"{server.url}/s/{sid}")
            context.close()
        finally:
            chromium.close()
    return out


async def _learners(server: LocalServer, ids: list[str]) -> list[tuple[int, float]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60.0) as client:
        for sid in ids:
            await play(client, sid)
        counts = await asyncio.gather(*(count_frames("127.0.0.1", server.port, sid,
                                                     LEARNER_SECONDS, LEARNER_WARMUP)
                                        for sid in ids))
        for sid in ids:
            await play(client, sid, "pause")
    return list(counts)


def learners() -> dict[str, Any]:
    """LEARNERS origin sessions playing at once against one server (two workers)."""
    with tempfile.TemporaryDirectory(prefix="bench-learners-") as tmp, \
            LocalServer(Path(tmp), workers=2) as server:
        ids = create_sessions(server.url, CASES["origin"], LEARNERS)
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
        own0 = time.process_time()
        counts = asyncio.run(_learners(server, ids))
        own = time.process_time() - own0
        cpu, wall = cpu_seconds(server.pid) - cpu0, time.perf_counter() - t0
    fps = [n / s if s else 0.0 for n, s in counts]
    return {"learners": LEARNERS, "seconds": LEARNER_SECONDS,
            "frames_per_second_min": min(fps), "frames_per_second_median": statistics.median(fps),
            "frames_per_second_max": max(fps), "frames_total": sum(n for n, _ in counts),
            "server_cpu_cores": cpu / wall, "generator_cpu_cores": own / wall,
            "errors": sum(1 for n, _ in counts if n == 0)}


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def machine_speed() -> dict[str, float]:
    """Return our engine's epochs/s at 2-8-8-8-1 now, against the same measure on the day
    TensorFlow Playground's figures were taken on this kind of machine (a speed factor)."""
    now = engine_case((2, 8, 8, 8, 1), "sigmoid", "binary_cross_entropy")["epochs_per_second"]
    return {"engine_epochs_per_second": now, "then": ENGINE_THEN, "factor": now / ENGINE_THEN}


def run() -> Report:
    """Run every case; return the table beside the targets and TensorFlow Playground's."""
    speed = machine_speed()
    cases = browser_cases()
    crowd = learners()
    o, s, c = cases["origin"], cases["spiral"], cases["circle"]
    load_kb = cases["first_load_2d"]["bytes"] / 1024
    frame_kb = max(o["wire_bytes_per_frame"], s["wire_bytes_per_frame"]) / 1024
    t = TARGETS
    passed = {
        "origin_fps": o["frames_drawn_per_second"] >= t["origin_fps"],
        "spiral_fps": s["frames_drawn_per_second"] >= t["spiral_fps"],
        "epochs_ratio": c["epochs_per_second"] >= t["epochs_ratio"] * TF_EPOCHS,
        "cpu_origin": o["server_cpu_ms_per_frame"] <= t["cpu_origin_ms"],
        "cpu_2d": s["server_cpu_ms_per_frame"] <= t["cpu_2d_ms"],
        "learners": crowd["frames_per_second_median"] >= t["learner_fps"]
        and crowd["frames_per_second_min"] >= t["learner_min_fps"],
        "first_load": load_kb <= t["first_load_kb"], "frame_size": frame_kb <= t["frame_kb"],
        "fit": cases["journey"]["fit_seconds"] < t["fit_seconds"],
    }
    rows = [
        ["frames drawn/s", "origin 2-3-3-2",
         f"{o['frames_drawn_per_second']:.1f} of {o['screen_refreshes_per_second']:.1f}",
         "60 (2-4-2-1)",
         f"≥ {t['origin_fps']:g}", _verdict(passed["origin_fps"])],
        ["frames drawn/s", "spiral 2-8-8-8-1, maps",
         f"{s['frames_drawn_per_second']:.1f} of {s['screen_refreshes_per_second']:.1f}",
         "~32", f"≥ {t['spiral_fps']:g}", _verdict(passed["spiral_fps"])],
        ["epochs seen/s", "circle 2-8-8-8-1", f"{c['epochs_per_second']:,.0f}",
         f"{TF_EPOCHS:g}", f"≥ {t['epochs_ratio'] * TF_EPOCHS:g} (10×)",
         _verdict(passed["epochs_ratio"])],
        ["server CPU ms/frame", "origin 2-3-3-2", f"{o['server_cpu_ms_per_frame']:.2f}", "—",
         f"≤ {t['cpu_origin_ms']:g}", _verdict(passed["cpu_origin"])],
        ["server CPU ms/frame", "spiral 2-8-8-8-1, maps", f"{s['server_cpu_ms_per_frame']:.2f}",
         "—", f"≤ {t['cpu_2d_ms']:g}", _verdict(passed["cpu_2d"])],
        [f"{LEARNERS} learners, frames/s each", "origin 2-3-3-2",
         f"median {crowd['frames_per_second_median']:.1f}, min "
         f"{crowd['frames_per_second_min']:.1f}", "—",
         f"≥ {t['learner_fps']:g}, none < {t['learner_min_fps']:g}", _verdict(passed["learners"])],
        ["first load on the wire", "spiral (2-D)", f"{load_kb:.1f} kB", "—",
         f"≤ {t['first_load_kb']:g} kB", _verdict(passed["first_load"])],
        ["one frame on the wire", "origin / spiral",
         f"{o['wire_bytes_per_frame'] / 1024:.2f} / {s['wire_bytes_per_frame'] / 1024:.2f} kB",
         "—", f"≤ {t['frame_kb']:g} kB", _verdict(passed["frame_size"])],
        ["Fit to 0.01, clicked", "origin, symmetry broken",
         f"{cases['journey']['fit_seconds']:.1f} s ({cases['journey']['steps']:,} steps)", "—",
         f"< {t['fit_seconds']:g} s", _verdict(passed["fit"])],
    ]
    notes = [
        f"Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, one server worker (SQLite); "
        f"Play measured {PLAY_SECONDS:g} s after {WARMUP_SECONDS:g} s.",
        f"A frame's training budget at 1×: {1e3 * PLAY_SLICE:g} ms (origin), "
        f"{1e3 * PLAY_SLICE_MAPS:g} ms (2-D, shared by the players of a worker); the "
        "CPU per frame above includes it.",
        "Frames received/s: " + ", ".join(f"{n} {cases[n]['frames_received_per_second']:.1f}"
                                           for n in CASES) + "; steps/s: "
        + ", ".join(f"{n} {cases[n]['steps_per_second']:,.0f}" for n in CASES) + "; the page's "
        "script per frame drawn (ms): " + ", ".join(
            f"{n} {cases[n]['page_ms_per_frame_drawn']:.1f}" for n in CASES) + ".",
        f"{LEARNERS} learners: two workers, {LEARNER_SECONDS:g} s after {LEARNER_WARMUP:g} s; "
        f"server busy {crowd['server_cpu_cores']:.2f} cores, load generator "
        f"{crowd['generator_cpu_cores']:.2f}; max {crowd['frames_per_second_max']:.1f} "
        f"frames/s; streams with no frame {crowd['errors']}.",
        "First load: " + ", ".join(f"{k} {v / 1024:.1f} kB"
                                   for k, v in cases["first_load_2d"]["by_kind"].items()) + ".",
        f"This machine now: our engine trains 2-8-8-8-1 at "
        f"{speed['engine_epochs_per_second']:,.0f} epochs/s, {speed['factor']:.2f} × its speed "
        f"when TF Playground's figures were taken ({ENGINE_THEN:,.0f}): TF's CPU-bound figures "
        f"(2-8-8-8-1: ~32 frames and epochs/s) would be ~{32 * speed['factor']:.0f} here.",
    ]
    return Report("browser", "Play in the browser (Chromium), beside TensorFlow Playground",
                  HEADERS, rows, {"cases": cases, "learners": crowd, "passed": passed,
                                  "machine_speed": speed,
                                  "targets": TARGETS, "tf": {"fps": TF_FPS,
                                                             "epochs": TF_EPOCHS}}, notes)
