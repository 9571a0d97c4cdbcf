"""Playground benchmark: our 2-D playground beside TensorFlow Playground (issue 5).

TensorFlow Playground, measured on this machine by the issue's author (circle, 250
training points, batch 10, tanh hidden layers, learning rate 0.03): its engine (`nn.ts`
under Node, no DOM) trains 6,610 epochs/s at 2-4-2-1 and 1,454 at 2-8-8-8-1; its page
shows at most 60 epochs/s (one epoch per animation frame) at 2-4-2-1 and about 32 at
2-8-8-8-1. Three measures of ours:

- Engine: `Trainer.run` with mini-batches of 10 on the training half (250 points) of a
  500-point circle (`generate` + `split`, seed 0), tanh hidden layers, SGD 0.03. Two
  outputs: sigmoid + binary cross-entropy (the session's default) and tanh + mse (TF
  Playground's own output and loss, on ±1 labels). Each run builds the `Trainer` and
  trains `EPOCHS` epochs (it also computes the loss over all the data once per epoch, for
  the loss curve); best of `REPEATS` after a warm-up.
- Maps: a 2-8-8-8-1 circle session's plane as a play frame draws it (`app.web.plane`):
  compute (one float32 forward pass on the grid) and encoding (the output map and the
  tiles of the neurons' maps), a whole frame (`app.web.frames.frame`), and the maps in
  float64 beside them.
- Users' view: a real uvicorn (one worker, SQLite store) on 127.0.0.1 playing a 2-8-8-8-1
  circle session over its live stream for `PLAY_SECONDS`, as one tab does
  (`bench/live.py`). Epochs are the session's `epoch` counter (`GET /api/sessions/{id}`)
  before and after.

Targets (from the issue) are reported, never enforced; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.engine.datasets import DatasetSpec, generate, split
from app.engine.initializers import initialize
from app.engine.maps import neuron_maps
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.spec import InitSpec, NetworkSpec, OptimizerSpec, validate
from app.engine.train import Progress, Trainer
from app.main import create_app
from app.sessions.model import Session
from app.sessions.service import SessionService
from app.settings import Settings
from app.web import frames, plane
from app.web.preferences import Prefs

from . import live
from .api import LocalServer, cpu_seconds, create_sessions
from .common import Report, clock
from .live import Watcher

POINTS = 500  # generated; half are held out, so 250 train, as in TF Playground
BATCH = 10
LEARNING_RATE = 0.03
EPOCHS = 400  # per timed engine run
REPEATS = 5
MAP_CALLS = 40  # timed calls of each map measure (after MAP_WARMUPS)
MAP_WARMUPS = 3
MAP_SECONDS = 10.0  # a map measure stops early past this
PLAY_SECONDS = 5.0
PREFILL_STEPS = 500  # the maps' session trains a little first (maps of a trained net)
NETS = {"2-4-2-1": (2, 4, 2, 1), "2-8-8-8-1": (2, 8, 8, 8, 1)}
OUTPUTS = {"sigmoid + BCE": ("sigmoid", "binary_cross_entropy"), "tanh + mse": ("tanh", "mse")}
TF_ENGINE = {"2-4-2-1": 6_610.0, "2-8-8-8-1": 1_454.0}  # epochs/s, nn.ts under Node
TF_PAGE = {"2-4-2-1": 60.0, "2-8-8-8-1": 32.0}  # epochs/s the page shows, at most
ENGINE_TARGET = {"2-4-2-1": TF_ENGINE["2-4-2-1"] / 2, "2-8-8-8-1": TF_ENGINE["2-8-8-8-1"]}
MAPS_TARGET_MS = 5.0  # server compute of the output map and every neuron map
PLAY_EPOCHS_TARGET = 320.0  # epochs/s a playing page sees (10× TF's page at 2-8-8-8-1)
PLAY_FPS_TARGET = 10.0
SESSION_BODY: dict[str, Any] = {  # the users' view and the maps: TF's circle, 2-8-8-8-1
    "dataset": {"name": "circle", "points": POINTS, "noise": 0.0, "seed": 0, "test_ratio": 0.5},
    "layers": [2, 8, 8, 8, 1],
    "title": "bench playground",
}
HEADERS = ["measure", "net", "ours", "TF Playground", "target", "result"]


# ---------------------------------------------------------------------------- engine
def circle_training_half() -> tuple[np.ndarray, np.ndarray]:
    """Return the 250 training points of a 500-point circle and their 0/1 labels."""
    data = generate(DatasetSpec("circle", points=POINTS, noise=0.0, seed=0))
    train, _ = split(data, 0.5, 0)
    return train.inputs, train.targets  # (250, 2), (250, 1)


def engine_case(layers: tuple[int, ...], output: str, loss: str) -> dict[str, Any]:
    """Time mini-batch training of one net; return epochs/s and the run's facts."""
    x, y01 = circle_training_half()
    y = 2.0 * y01 - 1.0 if output == "tanh" else y01  # TF's ±1 labels for a tanh output
    spec = validate(
        NetworkSpec(
            layers=layers,
            hidden_activation="tanh",
            output_activation=output,
            loss=loss,
            init=InitSpec(seed=0),
            optimizer=OptimizerSpec(name="sgd", learning_rate=LEARNING_RATE),
            batch_size=BATCH,
        )
    )
    params = initialize(spec)
    iterations = EPOCHS * -(-x.shape[0] // BATCH)  # 25 updates per epoch

    def once() -> Any:
        trainer = Trainer(spec, x, y)
        return trainer.run(params, new_state(spec.optimizer, flat(params)), Progress(), iterations)

    once()  # warm-up
    runs = [clock(once) for _ in range(REPEATS)]
    seconds = [s for s, _ in runs]
    run = runs[-1][1]
    if run.progress.epoch != EPOCHS or run.diverged_at is not None:
        raise RuntimeError(
            f"{layers}: ran {run.progress.epoch} epochs, diverged at {run.diverged_at}"
        )
    return {
        "layers": list(layers),
        "output": output,
        "loss": loss,
        "train_points": int(x.shape[0]),
        "batch_size": BATCH,
        "epochs": EPOCHS,
        "iterations": iterations,
        "epochs_per_second": EPOCHS / min(seconds),
        "epochs_per_second_median": EPOCHS / statistics.median(seconds),
        "repeats_seconds": seconds,
        "final_loss": run.loss,
    }


def engine_timings() -> list[dict[str, Any]]:
    """Time every net with every output."""
    out = []
    for net, layers in NETS.items():
        for label, (output, loss) in OUTPUTS.items():
            out.append({"net": net, "outputs": label, **engine_case(layers, output, loss)})
    return out


# ---------------------------------------------------------------------------- maps
def _ms(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": float(np.median(ms)),
        "min_ms": float(ms.min()),
        "p90_ms": float(np.percentile(ms, 90)),
    }


def _timed(fn: Callable[[], object]) -> dict[str, float]:
    """Return the latency of fn over MAP_CALLS calls (within MAP_SECONDS)."""
    for _ in range(MAP_WARMUPS):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + MAP_SECONDS
    while len(times) < MAP_CALLS and (len(times) < 5 or time.perf_counter() < deadline):
        times.append(clock(fn)[0])
    return _ms(times)


def _encode(s: Session, layers: list[np.ndarray]) -> int:
    """Encode the maps as a play frame does (the output map, the tiles); return images."""
    plane.output_picture(s, layers, discrete=False)
    plane.hidden_tiles(s, layers)
    return 2


def map_timings() -> dict[str, Any]:
    """Time the plane of a (briefly trained) 2-8-8-8-1 circle session, in-process: the
    maps (float32, as a frame computes them), their encoding, and a whole frame."""
    service: SessionService = create_app(Settings(store="memory", create_rate=0)).state.service
    s = service.step(service.create(SESSION_BODY).id, PREFILL_STEPS).session
    features = s.problem.recipe["features"] if s.problem else ["x1", "x2"]
    layers = plane.maps(s)
    return {
        "layers": list(s.spec.layers),
        "step": s.progress.step,
        "map_resolution": plane.RESOLUTION,
        "thumb_resolution": plane.TILE,
        "pngs": _encode(s, layers),
        "compute": _timed(lambda: plane.maps(s)),
        "encode": _timed(lambda: _encode(s, layers)),
        "frame": _timed(lambda: frames.frame(service, s, Prefs())),
        "compute_float64": _timed(
            lambda: neuron_maps(s.spec, s.parameters, features, plane.RESOLUTION)),
    }


# ---------------------------------------------------------------------------- users' view
def _epoch_and_step(client: httpx.Client, sid: str) -> tuple[int, int]:
    body = client.get(f"/api/sessions/{sid}").json()
    return int(body["epoch"]), int(body["step"])


async def _watch(url: str, sid: str, watcher: Watcher) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        await live.play(client, sid)
        await live.watch(client, watcher, PLAY_SECONDS)
        await live.play(client, sid, "pause")


def play_timing() -> dict[str, Any]:
    """Start uvicorn; play one 2-8-8-8-1 circle session for PLAY_SECONDS over its live
    stream, as one tab does."""
    with tempfile.TemporaryDirectory(prefix="bench-playground-") as tmp, \
            LocalServer(Path(tmp)) as server, \
            httpx.Client(base_url=server.url, timeout=30.0) as client:
        sid = create_sessions(server.url, SESSION_BODY, 1)[0]
        watcher = Watcher(sid)
        epoch0, step0 = _epoch_and_step(client, sid)
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
        asyncio.run(_watch(server.url, sid, watcher))
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0
        epoch1, step1 = _epoch_and_step(client, sid)
    return {
        "layers": SESSION_BODY["layers"],
        "seconds": wall,
        "frames": watcher.frames,
        "frames_per_second": watcher.frames / wall,
        "epochs": epoch1 - epoch0,
        "epochs_per_second": (epoch1 - epoch0) / wall,
        "steps": step1 - step0,
        "iterations_per_second": (step1 - step0) / wall,
        "server_cpu_ms_per_frame": 1e3 * cpu / max(1, watcher.frames),
        "errors": watcher.errors,
    }


# ---------------------------------------------------------------------------- report
def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _engine_row(r: dict[str, Any]) -> list[str]:
    net, value = r["net"], r["epochs_per_second"]
    target = ENGINE_TARGET[net]
    return [
        f"engine epochs/s ({r['outputs']})",
        net,
        f"{value:,.0f}",
        f"{TF_ENGINE[net]:,.0f} (Node)",
        f"≥ {target:,.0f}",
        _verdict(value >= target),
    ]


def run() -> Report:
    """Run the three measures; return the table and the data."""
    engine = engine_timings()
    maps = map_timings()
    playing = play_timing()
    rows = [_engine_row(r) for r in engine]
    compute = maps["compute"]["p50_ms"]
    rows += [
        [
            "maps compute ms (p50)",
            "2-8-8-8-1",
            f"{compute:.2f}",
            "—",
            f"≤ {MAPS_TARGET_MS:g} ms",
            _verdict(compute <= MAPS_TARGET_MS),
        ],
        [
            f"maps encoding ms ({maps['pngs']} images)",
            "2-8-8-8-1",
            f"{maps['encode']['p50_ms']:.2f}",
            "—",
            "—",
            "—",
        ],
        [
            "a whole play frame ms",
            "2-8-8-8-1",
            f"{maps['frame']['p50_ms']:.2f}",
            "—",
            "—",
            "—",
        ],
        [
            "maps compute ms, float64",
            "2-8-8-8-1",
            f"{maps['compute_float64']['p50_ms']:.2f}",
            "—",
            "—",
            "—",
        ],
        [
            "play: frames/s",
            "2-8-8-8-1",
            f"{playing['frames_per_second']:.1f}",
            "≤ 60 (1 epoch/frame)",
            f"≥ {PLAY_FPS_TARGET:g}",
            _verdict(playing["frames_per_second"] >= PLAY_FPS_TARGET),
        ],
        [
            "play: epochs/s seen",
            "2-8-8-8-1",
            f"{playing['epochs_per_second']:,.0f}",
            f"~{TF_PAGE['2-8-8-8-1']:g} (page)",
            f"≥ {PLAY_EPOCHS_TARGET:g}",
            _verdict(playing["epochs_per_second"] >= PLAY_EPOCHS_TARGET),
        ],
    ]
    passed = {
        "engine": {
            f"{r['net']} {r['outputs']}": r["epochs_per_second"] >= ENGINE_TARGET[r["net"]]
            for r in engine
        },
        "maps_compute": compute <= MAPS_TARGET_MS,
        "play_frames_per_second": playing["frames_per_second"] >= PLAY_FPS_TARGET,
        "play_epochs_per_second": playing["epochs_per_second"] >= PLAY_EPOCHS_TARGET,
    }
    notes = [
        f"Engine: circle, {engine[0]['train_points']} training points, batch {BATCH}, SGD "
        f"{LEARNING_RATE}, tanh hidden; best of {REPEATS} runs of {EPOCHS} epochs (each run "
        "builds the Trainer and computes the full-data loss once per epoch). TF Playground's "
        "own net has a tanh output with square loss; the session default is sigmoid + BCE.",
        f"TF Playground: its engine under Node (no DOM) and, at 2-4-2-1, its page "
        f"({TF_PAGE['2-4-2-1']:g} epochs/s at most, one epoch per frame); at 2-8-8-8-1 its "
        f"page shows ~{TF_PAGE['2-8-8-8-1']:g} epochs/s.",
        f"Maps: session trained {maps['step']} steps; compute = neuron_maps at "
        f"{maps['map_resolution']}² in float32 (tiles of {maps['thumb_resolution']}² take every "
        f"4th point); p50 of up to {MAP_CALLS} calls (min {maps['compute']['min_ms']:.2f} ms).",
        f"Play: uvicorn, one worker, SQLite; one tab's live stream for {PLAY_SECONDS:g} s; "
        f"{playing['frames']} frames, server CPU {playing['server_cpu_ms_per_frame']:.1f} "
        f"ms/frame, {playing['epochs']:,} epochs ({playing['iterations_per_second']:,.0f} "
        f"updates/s); errors {playing['errors']}.",
    ]
    data = {
        "engine": engine,
        "maps": maps,
        "play": playing,
        "passed": passed,
        "tensorflow_playground": {
            "engine_epochs_per_second": TF_ENGINE,
            "page_epochs_per_second": TF_PAGE,
        },
        "targets": {
            "engine_epochs_per_second": ENGINE_TARGET,
            "maps_compute_ms": MAPS_TARGET_MS,
            "play_epochs_per_second": PLAY_EPOCHS_TARGET,
            "play_frames_per_second": PLAY_FPS_TARGET,
        },
    }
    return Report(
        "playground", "2-D playground vs TensorFlow Playground", HEADERS, rows, data, notes
    )
