"""Replicas benchmark: two uvicorn replicas on Redis beside one on SQLite (issue 6).

The API benchmark's step load (`bench.api`): `CONNECTIONS` keep-alive connections from a
second process, each stepping its own origin session (`POST /api/sessions/{id}/step`,
one iteration) back-to-back for `SECONDS` after `WARMUP`, each session stepped
`PREFILL_STEPS` times first. Three setups, each on fresh processes:

- SQLite: one uvicorn worker, the SQLite store in a temporary directory (as `bench.api`);
- Redis ×1: one uvicorn worker on a throwaway redis-server (separates the store's cost
  from the replicas' effect);
- Redis ×2: two uvicorn processes on two ports sharing that Redis; the connections are
  split evenly between them by port (no proxy in front: the load generator is the
  balancer, so no proxy's cost or policy is measured).

redis-server runs on a free loopback port without persistence (`--save ""`,
`--appendonly no`), as the session tests start it. Server CPU is read from
/proc/<pid>/stat of every uvicorn and of redis-server, machine CPU from /proc/stat, and
Redis's commands per request from `INFO commandstats`, all over the measured window; after
the load, steps sent one at a time give the service time and, under Redis's MONITOR, the
round trips to Redis per step.
Every process started here is stopped on the way out, errors included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from .api import (
    CONNECTIONS,
    HOST,
    MAX_PER_CONNECTION,
    PREFILL_SECONDS,
    PREFILL_STEPS,
    REQUEST_TIMEOUT,
    SECONDS,
    WARMUP,
    Call,
    Connection,
    LocalServer,
    Outcome,
    _loop,
    cpu_seconds,
    create_sessions,
    figures,
    free_port,
    json_call,
)
from .common import Report

REDIS_START_TIMEOUT = 10.0  # seconds to wait for redis-server's first PONG
SOLO_STEPS = 100  # steps sent one at a time (no concurrency) after the load: the service time
MONITORED_STEPS = 16  # steps one at a time under MONITOR, to count Redis round trips
MONITOR_LINES = 10_000  # MONITOR lines read at most
HEADERS = ["setup", "requests", "req/s", "÷ SQLite", "p50 ms", "p99 ms", "p99 ÷ SQLite",
           "CPU ms/req", "redis ms/req", "round trips/req", "alone ms", "alone CPU ms",
           "server cores",
           "machine cores"]


# ---------------------------------------------------------------------------- the servers
@dataclass
class RedisServer:
    """Debian's redis-server on a free loopback port, without persistence."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the redis:// URL of database 0."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        """Return redis-server's process id."""
        if self.proc is None:
            raise RuntimeError("redis-server is not running")
        return self.proc.pid

    def start(self) -> None:
        """Start redis-server and wait until it answers PING."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        log = self.workdir / "redis.log"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning",
             "--logfile", str(log)],
            stdin=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{tail}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server did not answer PING at {self.url} in time")

    def stop(self) -> None:
        """SIGTERM redis-server and wait (SIGKILL if it lingers)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


# ---------------------------------------------------------------------------- the load
@dataclass(frozen=True)
class Split:
    """Connections looping their calls, each to its own port (its replica)."""

    name: str
    targets: tuple[tuple[int, Call], ...]  # (port, call), one per connection
    seconds: float = SECONDS
    warmup: float = WARMUP
    limit: int = MAX_PER_CONNECTION


@dataclass(frozen=True)
class Probe:
    """The processes whose CPU a window measures."""

    server_pids: tuple[int, ...]  # the uvicorn processes
    redis_pid: int | None = None
    redis_url: str | None = None


@dataclass
class SplitOutcome:
    """One scenario's outcome, with what each replica and Redis did in the window."""

    outcome: Outcome
    per_port: dict[int, tuple[list[float], dict[int, int]]]
    server_cpu_each: list[float]
    redis_cpu: float | None
    machine_cpu: float  # CPU seconds of every core, busy (not idle or iowait)
    commands: dict[str, int]  # Redis commands processed, by name


def machine_busy() -> float:
    """Return the CPU seconds every core has spent busy since boot (Linux /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # − idle, iowait


def redis_commands(client: redis.Redis | None) -> Counter[str]:
    """Return Redis's per-command call counts (INFO commandstats), without INFO itself."""
    if client is None:
        return Counter()
    stats: dict[str, Any] = client.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
                    if k != "cmdstat_info"})


def _mark(probe: Probe, client: redis.Redis | None) -> dict[str, Any]:
    return {"t": time.perf_counter(), "servers": [cpu_seconds(p) for p in probe.server_pids],
            "redis": cpu_seconds(probe.redis_pid) if probe.redis_pid else None,
            "client": time.process_time(), "machine": machine_busy(),
            "commands": redis_commands(client)}


async def _split(sc: Split, probe: Probe, client: redis.Redis | None) -> SplitOutcome:
    """Run one scenario: warm up, then measure the window on every process."""
    conns = [Connection(port) for port, _ in sc.targets]
    per_port: dict[int, tuple[list[float], Counter[int]]] = {
        port: ([], Counter()) for port, _ in sc.targets}
    now = time.perf_counter()
    start, end = now + sc.warmup, now + sc.warmup + sc.seconds

    async def window() -> dict[str, Any]:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        return _mark(probe, client)

    marker = asyncio.ensure_future(window())
    await asyncio.gather(*(_loop(conn, call, start, end, *per_port[port], limit=sc.limit)
                           for conn, (port, call) in zip(conns, sc.targets, strict=True)))
    first = await marker
    last = _mark(probe, client)
    for conn in conns:
        conn.close()
    latencies = [x for lat, _ in per_port.values() for x in lat]
    statuses: Counter[int] = Counter()
    for _, st in per_port.values():
        statuses.update(st)
    each = [b - a for a, b in zip(first["servers"], last["servers"], strict=True)]
    outcome = Outcome(sc.name, latencies, dict(statuses), last["t"] - first["t"], sum(each),
                      last["client"] - first["client"])
    commands = last["commands"] - first["commands"]
    return SplitOutcome(
        outcome, {p: (lat, dict(st)) for p, (lat, st) in per_port.items()}, each,
        None if first["redis"] is None else last["redis"] - first["redis"],
        last["machine"] - first["machine"], dict(commands))


def drive_split(plan: list[Split], probe: Probe) -> list[SplitOutcome]:
    """Run the scenarios one after another (in the load process)."""
    client = (redis.Redis.from_url(probe.redis_url, socket_timeout=REQUEST_TIMEOUT)
              if probe.redis_url else None)

    async def main() -> list[SplitOutcome]:
        return [await _split(sc, probe, client) for sc in plan]

    try:
        return asyncio.run(main())
    finally:
        if client is not None:
            client.close()


def drive_split_elsewhere(plan: list[Split], probe: Probe) -> list[SplitOutcome]:
    """Run `drive_split` in a second process (spawned), so the client's CPU is its own."""
    bound = sum(sc.seconds + sc.warmup + 2 * REQUEST_TIMEOUT for sc in plan) + 60.0
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(drive_split, plan, probe).result(timeout=bound)


# ---------------------------------------------------------------------------- the setups
def measure(name: str, servers: list[LocalServer], rds: RedisServer | None) -> dict[str, Any]:
    """Create and prefill one origin session per connection, then time the step load."""
    per = CONNECTIONS // len(servers)
    targets: list[tuple[int, Call]] = []
    for server in servers:  # each replica steps the sessions created through it
        for sid in create_sessions(server.url, {"example": "origin"}, per):
            targets.append((server.port, json_call(
                "POST", f"/api/sessions/{sid}/step", {"iterations": 1})))
    plan = [Split("prefill", tuple(targets), seconds=PREFILL_SECONDS, warmup=0.0,
                  limit=PREFILL_STEPS),
            Split(name, tuple(targets))]
    probe = Probe(tuple(s.pid for s in servers), rds.pid if rds else None,
                  rds.url if rds else None)
    prefill, steady = drive_split_elsewhere(plan, probe)
    result = summarize(steady, prefill, servers)
    urls = {s.port: s.url for s in servers}
    steps = [(urls[port], call.path) for port, call in targets]
    before = [cpu_seconds(s.pid) for s in servers]
    result["alone_ms"] = alone(steps)
    spent = sum(cpu_seconds(s.pid) - b for s, b in zip(servers, before, strict=True))
    result["alone_cpu_ms_per_request"] = 1e3 * spent / SOLO_STEPS
    result["round_trips"] = round_trips(rds.url, steps) if rds else None
    return result


def alone(steps: list[tuple[str, str]]) -> list[float]:
    """Send SOLO_STEPS steps one at a time (the machine otherwise idle); return their ms."""
    out = []
    clients = {url: httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) for url, _ in steps}
    try:
        for i in range(SOLO_STEPS):
            url, path = steps[i % len(steps)]
            began = time.perf_counter()
            r = clients[url].post(path, json={"iterations": 1})
            out.append(1e3 * (time.perf_counter() - began))
            r.raise_for_status()
    finally:
        for c in clients.values():
            c.close()
    return out


def round_trips(url: str, steps: list[tuple[str, str]]) -> dict[str, Any]:
    """Count the commands the app sends Redis (round trips) per step, under MONITOR.

    INFO commandstats also counts the commands a Lua script runs inside Redis; MONITOR
    marks those `lua`, so the commands from TCP clients are the round trips.
    """
    sentinel = f"bench-replicas-{os.getpid()}-{time.time_ns()}"
    client = redis.Redis.from_url(url, socket_timeout=REQUEST_TIMEOUT)
    tcp: Counter[str] = Counter()
    lua: Counter[str] = Counter()
    try:
        monitor = client.monitor()  # type: ignore[no-untyped-call]
        with monitor, httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            for i in range(MONITORED_STEPS):
                base, path = steps[i % len(steps)]
                http.post(base + path, json={"iterations": 1}).raise_for_status()
            client.echo(sentinel)
            for _ in range(MONITOR_LINES):
                line = monitor.next_command()
                words = line["command"].split(" ", 1)
                if sentinel in line["command"]:
                    break
                (lua if line["client_type"] == "lua" else tcp)[words[0].lower()] += 1
    finally:
        client.close()
    return {"steps": MONITORED_STEPS, "per_step": sum(tcp.values()) / MONITORED_STEPS,
            "from_clients": dict(tcp), "inside_scripts": dict(lua)}


def summarize(so: SplitOutcome, prefill: SplitOutcome, servers: list[LocalServer]
              ) -> dict[str, Any]:
    """Return the figures of one setup, JSON-ready."""
    f = figures(so.outcome)
    n, secs = max(1, f["requests"]), f["seconds"]
    f["replicas"] = []
    for server, cpu in zip(servers, so.server_cpu_each, strict=True):
        lat, st = so.per_port[server.port]
        ms = np.array(lat) * 1e3
        f["replicas"].append({
            "port": server.port, "requests": len(lat), "statuses": {str(k): v for k, v in
                                                                   sorted(st.items())},
            "requests_per_second": len(lat) / secs,
            "p50_ms": float(np.percentile(ms, 50)) if ms.size else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if ms.size else float("nan"),
            "cpu_seconds": cpu, "cores_busy": cpu / secs,
            "cpu_ms_per_request": 1e3 * cpu / max(1, len(lat))})
    f["server_cores_busy"] = f["server_cpu_seconds"] / secs
    f["redis_cpu_seconds"] = so.redis_cpu
    f["redis_cpu_ms_per_request"] = None if so.redis_cpu is None else 1e3 * so.redis_cpu / n
    f["redis_cores_busy"] = None if so.redis_cpu is None else so.redis_cpu / secs
    f["redis_commands"] = so.commands
    f["redis_commands_per_request"] = (sum(so.commands.values()) / n if so.redis_cpu is not None
                                       else None)
    f["client_cores_busy"] = f["client_cpu_seconds"] / secs
    f["machine_cores_busy"] = so.machine_cpu / secs
    p = figures(prefill.outcome)
    f["prefill"] = {"requests": p["requests"], "seconds": p["seconds"], "p50_ms": p["p50_ms"],
                    "statuses": p["statuses"]}
    return f


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / MONITORED_STEPS:.2f}"
                     for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _other(r: dict[str, Any]) -> float:
    """Return the cores busy in the window beyond the servers, Redis and the load generator."""
    ours = r["server_cores_busy"] + (r["redis_cores_busy"] or 0.0) + r["client_cores_busy"]
    return float(r["machine_cores_busy"] - ours)


def run() -> Report:
    """Measure SQLite ×1, Redis ×1 and Redis ×2; every process is stopped on the way out."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    results: list[dict[str, Any]] = []
    setups = [("SQLite ×1", "sqlite", 1), ("Redis ×1", "redis", 1), ("Redis ×2", "redis", 2)]
    for name, store, count in setups:
        with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp, \
                contextlib.ExitStack() as stack:
            rds = None
            env = {"STORE": store}
            if store == "redis":
                rds = RedisServer(Path(tmp))
                stack.callback(rds.stop)
                rds.start()
                env["REDIS_URL"] = rds.url
            servers = []
            for _ in range(count):
                server = LocalServer(Path(tmp), env=env)
                stack.callback(server.stop)
                server.start()
                servers.append(server)
            result = measure(name, servers, rds)
        result.update(setup=name, store=store, replica_count=count)
        results.append(result)
    base = results[0]
    rows = []
    for r in results:
        redis_ms, trips = r["redis_cpu_ms_per_request"], r["round_trips"]
        rows.append([
            r["setup"], f"{r['requests']:,}", f"{r['requests_per_second']:,.0f}",
            f"{r['requests_per_second'] / base['requests_per_second']:.2f}",
            f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['p99_ms'] / base['p99_ms']:.2f}",
            f"{r['server_cpu_ms_per_request']:.2f}",
            "—" if redis_ms is None else f"{redis_ms:.3f}",
            "—" if trips is None else f"{trips['per_step']:.1f}",
            f"{np.median(r['alone_ms']):.2f}", f"{r['alone_cpu_ms_per_request']:.2f}",
            " + ".join(f"{x['cores_busy']:.2f}" for x in r["replicas"]),
            f"{r['machine_cores_busy']:.2f} / {os.cpu_count()}"])
    two = results[2]
    split = ", ".join(f"{x['requests_per_second']:,.0f} req/s (p99 {x['p99_ms']:.1f} ms)"
                      for x in two["replicas"])
    nginx = shutil.which("nginx")
    notes = [
        f"Each setup: {CONNECTIONS} keep-alive connections from a second process, each "
        f"stepping its own origin session (POST …/step, 1 iteration) for {SECONDS:g} s after "
        f"{WARMUP:g} s of warm-up, each session stepped {PREFILL_STEPS} times first; fresh "
        "uvicorn processes (1 worker each, CREATE_RATE=0) and a fresh redis-server "
        "(loopback, no persistence) per setup.",
        f"Redis ×2: no proxy — the load generator splits its connections "
        f"{CONNECTIONS // 2}/{CONNECTIONS // 2} by port between the two replicas, each "
        f"stepping sessions created through it; per replica: {split}. "
        + ("nginx is installed but not measured here."
           if nginx else "nginx is not installed here: no run through a proxy."),
        "CPU ms/req = CPU of the uvicorn process(es) in the window ÷ requests; redis ms/req "
        "the same for redis-server; round trips/req = commands the replicas sent Redis per "
        f"step, counted under MONITOR over {MONITORED_STEPS} steps one at a time after the "
        "load (Redis ×2: "
        + _counts(two["round_trips"]["from_clients"]) + "; inside those scripts: "
        + _counts(two["round_trips"]["inside_scripts"]) + "); alone ms = median of "
        f"{SOLO_STEPS} steps sent one at a time after the load (the service time, no queue), "
        "alone CPU ms = the servers' CPU ÷ those steps.",
        "server cores = each uvicorn's CPU seconds ÷ window (1.0 = one core, the GIL's "
        "ceiling for Python code); machine cores = every process's busy CPU "
        f"(/proc/stat) ÷ window, out of {os.cpu_count()}; of which the load generator "
        + ", ".join(f"{r['client_cores_busy']:.2f}" for r in results)
        + ", redis-server " + ", ".join(f"{r['redis_cores_busy']:.2f}" for r in results[1:])
        + ", anything else (kernel, other processes) "
        + ", ".join(f"{_other(r):.2f}" for r in results)
        + (f" (load average before: {load[0]:.2f})." if load else "."),
    ]
    bad = {r["setup"]: r["statuses"] for r in results if r["ok"] != r["requests"]}
    if bad:
        notes.append(f"Not every request succeeded: {bad}.")
    data = {"connections": CONNECTIONS, "seconds": SECONDS, "warmup": WARMUP,
            "prefill_steps": PREFILL_STEPS, "proxy": None, "nginx": nginx,
            "setups": results}
    return Report("replicas", "Two replicas on Redis vs one on SQLite (POST …/step ×1)",
                  HEADERS, rows, data, notes)
