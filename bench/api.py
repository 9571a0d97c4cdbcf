"""API benchmark: throughput and latency of the JSON API on a real uvicorn (issue 3).

A uvicorn server (one worker process, then two; the SQLite store in a temporary directory)
serves 127.0.0.1; a second process drives it with `CONNECTIONS` keep-alive connections, each
looping one request back-to-back (closed loop) for `SECONDS` after a short warm-up:

- `GET /healthz` (the ceiling: no store, no NumPy), `GET /api/sessions/{id}`,
  `GET /api/sessions/{id}/trace` and `POST /api/sessions/{id}/step` with one iteration,
  each connection on its own origin session so the run measures the store and the
  engine, not one session's lock;
- the same steps while one more connection keeps a 2-64-64-1 session on 500 rows
  training (100,000-iteration steps, cut by the server's per-request time budget);
- how fast requests over a limit are refused: a spec with a 5,000-neuron layer (422),
  and a 20 MiB body declared by Content-Length (413, sent while the body streams in).

The load generator is a minimal HTTP/1.1 client on asyncio streams, not httpx: on this
kind of machine httpx's async client saturates a core at a few hundred requests per
second, below the server's /healthz rate, and would measure itself (and `wrk` is not
installed here). Server CPU comes from /proc/<pid>/stat. Targets (from the issue) are
reported, never enforced: only a benchmark that cannot run raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from .common import Report

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CONNECTIONS = 16  # concurrent keep-alive connections of the load generator
WORKER_COUNTS = (1, 2)  # uvicorn worker processes: each count is one run of every scenario
SECONDS = 5.0  # measured window of each scenario
WARMUP = 0.5  # seconds of each scenario before the window (not counted)
REQUEST_TIMEOUT = 15.0  # one request may take this long before the run gives up on it
MAX_PER_CONNECTION = 100_000  # requests one connection may send in one scenario (a bound)
REFUSALS = 40  # over-limit requests of each kind, one after another
BIG_BODY = 20 * 1024 * 1024  # bytes declared (and streamed) by the oversized request
BUSY_ITERATIONS = 100_000  # per step request of the background training session
PREFILL_STEPS = 50  # steps per origin session first: its undo stack full (undo_depth), as in use
PREFILL_SECONDS = 30.0  # the prefill stops here even if not done
STEP_RATIO_TARGET = 0.5  # step req/s ÷ healthz req/s, at least
STEP_P99_TARGET_MS = 15.0
CONTENDED_P99_TARGET_MS = 50.0
REFUSAL_P50_TARGET_MS = 50.0
HEADERS = ["scenario", "requests", "req/s", "÷ healthz", "p50 ms", "p99 ms", "CPU ms/req",
           "target", "result"]


# ---------------------------------------------------------------------------- the server
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process and its live descendants have used
    (Linux /proc): uvicorn's workers and the training pool count as the server."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """Return the user + system CPU seconds of the process and of each live descendant."""
    used = {}
    for one in _tree(pid):
        try:
            stat = Path(f"/proc/{one}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # fields from the 3rd (state) on
        used[one] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def _tree(pid: int) -> list[int]:
    """Return the process and its descendants (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        for task in Path(f"/proc/{one}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return found


@dataclass
class LocalServer:
    """`backprop-playground serve` (uvicorn) on 127.0.0.1 in a subprocess (SQLite unless
    `env` says else)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # e.g. STORE=redis, REDIS_URL
    workers: int = 1

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """Return the server's process id (one worker: the server itself)."""
        if self.proc is None:
            raise RuntimeError("the server is not running")
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        """Start uvicorn and wait until /healthz answers."""
        env = {**os.environ, "STORE": "sqlite", "DATA_DIR": str(self.data_dir),
               "CREATE_RATE": "0", **self.env}  # the load creates many sessions
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", HOST, "--port",
               str(self.port), "--workers", str(self.workers), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("uvicorn did not answer /healthz in time")

    def stop(self) -> None:
        """SIGTERM the server's process group and wait (SIGKILL if it lingers)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------- the client
@dataclass(frozen=True)
class Call:
    """One HTTP request, ready to send again and again."""

    method: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        """Return the request's bytes (HTTP/1.1, keep-alive)."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines += [f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def json_call(method: str, path: str, body: Any = None) -> Call:
    """Return a call with a JSON body (or none)."""
    return Call(method, path, b"" if body is None else json.dumps(body).encode())


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one encoded request; return (status, body)."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(raw)
        status, body, close = await read_response(self.reader)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        """Close the socket (the next request reconnects)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Return (status, body, whether the server closes) of the next response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    close = headers.get("connection", "").lower() == "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body, close = await reader.read(), True
    return status, body, close


# ---------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Scenario:
    """Connections looping their calls for a window; optionally one busy extra connection."""

    name: str
    calls: tuple[Call, ...]  # one per connection
    seconds: float = SECONDS
    warmup: float = WARMUP
    busy: Call | None = None  # looped by one more connection for the whole scenario
    limit: int = MAX_PER_CONNECTION  # requests per connection, at most


@dataclass
class Outcome:
    """What one scenario measured (latencies in seconds)."""

    name: str
    latencies: list[float]
    statuses: dict[int, int]
    seconds: float  # the measured window, until its last request finished
    server_cpu: float  # server CPU seconds during the window
    client_cpu: float  # load generator CPU seconds during the window
    busiest_share: float = 0.0  # the busiest server process's share of server_cpu
    busy_latencies: list[float] = field(default_factory=list)
    busy_statuses: dict[int, int] = field(default_factory=dict)
    busy_bodies: list[bytes] = field(default_factory=list)


async def _loop(conn: Connection, call: Call, start: float, end: float,
                latencies: list[float], statuses: Counter[int],
                bodies: list[bytes] | None = None, limit: int = MAX_PER_CONNECTION) -> None:
    """Send the call back-to-back until `end`; record those that began after `start`."""
    raw = call.encode()
    for _ in range(limit):
        began = time.perf_counter()
        if began >= end:
            return
        try:
            status, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            status, body = 0, b""
            conn.close()
        if began >= start:
            latencies.append(time.perf_counter() - began)
            statuses[status] += 1
            if bodies is not None:
                bodies.append(body)


async def _scenario(sc: Scenario, port: int, server_pid: int) -> Outcome:
    """Run one scenario: warm up, then measure the window (and the CPU spent in it)."""
    conns = [Connection(port) for _ in sc.calls]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    busy_lat: list[float] = []
    busy_st: Counter[int] = Counter()
    busy_bodies: list[bytes] = []
    now = time.perf_counter()
    start, end = now + sc.warmup, now + sc.warmup + sc.seconds
    busy_conn = Connection(port)
    busy = None
    if sc.busy is not None:  # starts first and keeps going until the window closes
        busy = asyncio.ensure_future(
            _loop(busy_conn, sc.busy, now, end, busy_lat, busy_st, busy_bodies))

    async def window() -> tuple[float, dict[int, float], float]:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        return time.perf_counter(), cpu_by_process(server_pid), time.process_time()

    marker = asyncio.ensure_future(window())
    await asyncio.gather(*(_loop(c, call, start, end, latencies, statuses, limit=sc.limit)
                           for c, call in zip(conns, sc.calls, strict=True)))
    mark = await marker
    seconds = time.perf_counter() - mark[0]
    used = cpu_by_process(server_pid)
    by_process = [used[p] - mark[1].get(p, 0.0) for p in used]
    server, client = sum(by_process), time.process_time() - mark[2]
    if busy is not None:
        await busy  # its last request began before the window closed
    for c in [*conns, busy_conn]:
        c.close()
    return Outcome(sc.name, latencies, dict(statuses), seconds, server, client,
                   max(by_process, default=0.0) / server if server > 0 else 0.0, busy_lat,
                   dict(busy_st), busy_bodies)


def _oversized(port: int, count: int) -> Outcome:
    """Stream a BIG_BODY-byte body after its Content-Length; time until the refusal is read.

    Blocking sockets, the body sent from a thread: the server answers 413 and closes while
    the body still streams in, and asyncio's transport would drop the answer at the reset
    that follows; a plain socket still reads it, as a browser or curl does.
    """
    head = (f"POST /api/sessions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {BIG_BODY}\r\n\r\n").encode()
    chunk = b"0" * 65536
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    def send_body(sock: socket.socket) -> None:
        try:
            for _ in range(BIG_BODY // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # refused: the server closed the connection

    for _ in range(count):
        began = time.perf_counter()
        with socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT) as sock:
            sock.sendall(head)
            sender = threading.Thread(target=send_body, args=(sock,), daemon=True)
            sender.start()
            answer = b""
            try:
                while b"\r\n\r\n" not in answer:
                    data = sock.recv(65536)
                    if not data:
                        break
                    answer += data
            except OSError:
                pass
            latencies.append(time.perf_counter() - began)
            statuses[int(answer.split()[1]) if answer.startswith(b"HTTP/") else 0] += 1
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks the sender
        sender.join(REQUEST_TIMEOUT)
    return Outcome("oversized body", latencies, dict(statuses), sum(latencies), 0.0, 0.0)


async def _refusals(port: int, call: Call, count: int) -> Outcome:
    """Send the call `count` times one after another on one connection."""
    conn = Connection(port)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    raw = call.encode()
    for _ in range(count):
        began = time.perf_counter()
        status, _ = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        latencies.append(time.perf_counter() - began)
        statuses[status] += 1
    conn.close()
    return Outcome("over-limit spec", latencies, dict(statuses), sum(latencies), 0.0, 0.0)


def drive(plan: list[Scenario], port: int, server_pid: int,
          refusal: Call | None = None) -> list[Outcome]:
    """Run the scenarios one after another (in the load process); return what they measured."""

    async def main() -> list[Outcome]:
        out = [await _scenario(sc, port, server_pid) for sc in plan]
        if refusal is not None:
            out.append(await _refusals(port, refusal, REFUSALS))
        return out

    outcomes = asyncio.run(main())
    if refusal is not None:
        outcomes.append(_oversized(port, REFUSALS // 2))
    return outcomes


def drive_elsewhere(plan: list[Scenario], port: int, server_pid: int,
                    refusal: Call | None = None) -> list[Outcome]:
    """Run `drive` in a second process (spawned), so the client's CPU is not the server's."""
    bound = sum(sc.seconds + sc.warmup + 2 * REQUEST_TIMEOUT for sc in plan) + 120.0
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(drive, plan, port, server_pid, refusal).result(timeout=bound)


# ---------------------------------------------------------------------------- sessions
def big_session_body() -> dict[str, Any]:
    """Return a 2-64-64-1 tanh/sigmoid network on 500 seeded points (inside a circle)."""
    points = np.random.default_rng(1).uniform(-6.0, 6.0, size=(500, 2))  # (500, 2)
    inside = (np.hypot(points[:, 0], points[:, 1]) < 3.0).astype(float)[:, None]  # (500, 1)
    return {"layers": [2, 64, 64, 1], "hidden_activation": "tanh",
            "output_activation": "sigmoid", "loss": "binary_cross_entropy",
            "init": {"scheme": "xavier_uniform", "seed": 0},
            "optimizer": {"name": "sgd", "learning_rate": 0.03},
            "inputs": points.tolist(), "targets": inside.tolist(), "title": "bench busy"}


def create_sessions(url: str, body: dict[str, Any], count: int) -> list[str]:
    """Create `count` sessions through the JSON API; return their ids."""
    ids = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for _ in range(count):
            r = client.post("/api/sessions", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"creating a session: {r.status_code} {r.text[:200]}")
            ids.append(r.json()["id"])
    return ids


# ---------------------------------------------------------------------------- figures
def figures(o: Outcome) -> dict[str, Any]:
    """Return the numbers of one outcome, JSON-ready (latencies in ms)."""
    lat = np.array(o.latencies) * 1e3
    ok = sum(n for s, n in o.statuses.items() if 200 <= s < 300)
    p50, p90, p99 = (np.percentile(lat, [50, 90, 99]).tolist() if lat.size
                     else [float("nan")] * 3)
    out: dict[str, Any] = {
        "scenario": o.name, "requests": len(o.latencies), "ok": ok,
        "statuses": {str(k): v for k, v in sorted(o.statuses.items())},
        "seconds": o.seconds, "requests_per_second": len(o.latencies) / o.seconds,
        "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
        "max_ms": float(lat.max()) if lat.size else float("nan"),
        "server_cpu_seconds": o.server_cpu, "client_cpu_seconds": o.client_cpu,
        "server_cpu_ms_per_request": 1e3 * o.server_cpu / max(1, len(o.latencies)),
        "busiest_process_cpu_share": o.busiest_share,
    }
    if o.busy_latencies:
        runs = [json.loads(b) for b in o.busy_bodies if b.startswith(b"{")]
        out["busy"] = {
            "requests": len(o.busy_latencies),
            "statuses": {str(k): v for k, v in sorted(o.busy_statuses.items())},
            "seconds_each": o.busy_latencies,
            "iterations_run": [r.get("iterations_run") for r in runs],
            "truncated": [r.get("truncated") for r in runs],
        }
    return out


def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _row(f: dict[str, Any], healthz: float, target: str = "—", result: str = "—",
         rate: bool = True) -> list[str]:
    rps = f["requests_per_second"]
    return [f["scenario"], f"{f['requests']:,}", f"{rps:,.0f}" if rate else "—",
            f"{rps / healthz:.2f}" if rate else "—", f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}",
            f"{f['server_cpu_ms_per_request']:.2f}" if rate else "—", target, result]


def measure(workers: int) -> list[dict[str, Any]]:
    """Start a server with `workers` processes; return every scenario's figures."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, \
            LocalServer(Path(tmp), workers=workers) as server:
        origins = create_sessions(server.url, {"example": "origin"}, CONNECTIONS)
        busy_id, *starters = create_sessions(server.url, big_session_body(), 5)
        step = tuple(json_call("POST", f"/api/sessions/{i}/step", {"iterations": 1})
                     for i in origins)
        busy = json_call("POST", f"/api/sessions/{busy_id}/step", {"iterations": BUSY_ITERATIONS})
        plan = [
            Scenario("prefill", step, seconds=PREFILL_SECONDS, warmup=0.0, limit=PREFILL_STEPS),
            # long steps first, on four connections: each worker starts its training pool
            # on first use (processes spawned once in its lifetime), not in the window
            Scenario("pool start", tuple(json_call("POST", f"/api/sessions/{i}/step",
                                                   {"iterations": BUSY_ITERATIONS})
                                         for i in starters),
                     seconds=PREFILL_SECONDS, warmup=0.0, limit=1),
            Scenario("GET /healthz", (Call("GET", "/healthz"),) * CONNECTIONS),
            Scenario("GET /api/sessions/{id}",
                     tuple(Call("GET", f"/api/sessions/{i}") for i in origins)),
            Scenario("GET /api/sessions/{id}/trace",
                     tuple(Call("GET", f"/api/sessions/{i}/trace") for i in origins)),
            Scenario("POST …/step ×1", step),
            Scenario("POST …/step ×1, one busy", step, busy=busy),
        ]
        refusal = json_call("POST", "/api/sessions", {
            "layers": [2, 5000, 1], "inputs": [[0.0, 0.0]], "targets": [[0.0]]})
        outcomes = drive_elsewhere(plan, server.port, server.pid, refusal)
    return [{**figures(o), "workers": workers} for o in outcomes if o.name != "pool start"]


def _checks(by: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float, str]]:
    """Return each target as (value, target, comparison)."""
    health = by["GET /healthz"]["requests_per_second"]
    steady, contended = by["POST …/step ×1"], by["POST …/step ×1, one busy"]
    return {
        "step_ratio": (steady["requests_per_second"] / health, STEP_RATIO_TARGET, "≥"),
        "step_p99_ms": (steady["p99_ms"], STEP_P99_TARGET_MS, "≤"),
        "contended_step_p99_ms": (contended["p99_ms"], CONTENDED_P99_TARGET_MS, "≤"),
        "over_limit_spec_p50_ms": (by["over-limit spec"]["p50_ms"], REFUSAL_P50_TARGET_MS, "<"),
        "oversized_body_p50_ms": (by["oversized body"]["p50_ms"], REFUSAL_P50_TARGET_MS, "<"),
    }


def _rows(by: dict[str, dict[str, Any]], passed: dict[str, bool], label: str) -> list[list[str]]:
    health = by["GET /healthz"]["requests_per_second"]
    named = {k: {**v, "scenario": f"{k} {label}"} for k, v in by.items()}
    return [
        _row(named["GET /healthz"], health),
        _row(named["GET /api/sessions/{id}"], health),
        _row(named["GET /api/sessions/{id}/trace"], health),
        _row(named["POST …/step ×1"], health,
             f"≥ {STEP_RATIO_TARGET} × healthz; p99 ≤ {STEP_P99_TARGET_MS:g}",
             f"{_verdict(passed['step_ratio'])}; {_verdict(passed['step_p99_ms'])}"),
        _row(named["POST …/step ×1, one busy"], health, f"p99 ≤ {CONTENDED_P99_TARGET_MS:g}",
             _verdict(passed["contended_step_p99_ms"])),
        _row(named["over-limit spec"], health, f"p50 < {REFUSAL_P50_TARGET_MS:g}",
             _verdict(passed["over_limit_spec_p50_ms"]), rate=False),
        _row(named["oversized body"], health, f"p50 < {REFUSAL_P50_TARGET_MS:g}",
             _verdict(passed["oversized_body_p50_ms"]), rate=False),
    ]


def run() -> Report:
    """Measure one worker, then two; report the figures and the targets of each."""
    rows: list[list[str]] = []
    runs: dict[str, Any] = {}
    notes: list[str] = []
    for workers in WORKER_COUNTS:
        results = measure(workers)
        by = {r["scenario"]: r for r in results}
        checks = _checks(by)
        passed = {k: (v >= t if op == "≥" else v <= t if op == "≤" else v < t)
                  for k, (v, t, op) in checks.items()}
        label = f"[{workers} worker{'s' if workers > 1 else ''}]"
        rows += _rows(by, passed, label)
        runs[str(workers)] = {
            "scenarios": results,
            "targets": {k: {"value": v, "target": t, "op": op, "passed": passed[k]}
                        for k, (v, t, op) in checks.items()}}
        busy = by["POST …/step ×1, one busy"].get("busy", {})
        prefill = by["prefill"]
        client = max(r["client_cpu_seconds"] / r["seconds"] for r in results[1:6])
        notes.append(
            f"{label} prefill {prefill['requests']} steps in {prefill['seconds']:.1f} s; "
            f"busy session: {busy.get('requests', 0)} requests, iterations run "
            f"{busy.get('iterations_run')}, statuses {busy.get('statuses')}; the load "
            f"generator used at most {client:.0%} of a core.")
        if workers > 1:  # the kernel hands each keep-alive connection to one worker
            shares = ", ".join(f"{r['scenario']} {r['busiest_process_cpu_share']:.0%}"
                               for r in results[1:5])
            notes.append(f"{label} the busiest worker's share of the server's CPU: {shares} "
                         "(50 % = the connections evenly spread).")
        bad = {r["scenario"]: r["statuses"] for r in results[:6] if r["ok"] != r["requests"]}
        if bad:
            notes.append(f"{label} not every request succeeded: {bad}.")
    spec = runs[str(WORKER_COUNTS[0])]["scenarios"][-2]
    big = runs[str(WORKER_COUNTS[0])]["scenarios"][-1]
    notes = [
        f"{CONNECTIONS} keep-alive connections from a second process, each looping its "
        f"request for {SECONDS:g} s after {WARMUP:g} s of warm-up; uvicorn with 1, then 2 "
        "worker processes; SQLite store (synchronous=FULL) in a temporary directory.",
        f"Origin sessions: one per connection, each stepped {PREFILL_STEPS} times first (so "
        "its undo stack is full, the steady state).",
        "CPU ms/req = the server's CPU in the window (every worker and the training pool) ÷ "
        "requests; × req/s ÷ 1000 = cores it kept busy.",
        f"One busy: a 2-64-64-1 session on 500 rows looped {BUSY_ITERATIONS:,}-iteration "
        "steps (cut by the server's 2 s time budget per request).",
        f"Over-limit: {spec['requests']} specs with a 5,000-neuron layer (statuses "
        f"{spec['statuses']}); {big['requests']} bodies of {BIG_BODY // 2**20} MiB "
        f"streamed after their Content-Length, timed to the answer (statuses "
        f"{big['statuses']}).",
        *notes,
    ]
    data = {"connections": CONNECTIONS, "seconds": SECONDS, "warmup": WARMUP,
            "busy_iterations": BUSY_ITERATIONS, "workers": runs}
    return Report("api", "JSON API under load (uvicorn, SQLite)", HEADERS, rows, data, notes)
