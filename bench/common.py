"""Shared pieces of the benchmarks: the clock, machine facts, the table and the JSON file.

Every benchmark module exposes `run() -> Report`; `python -m bench` prints each report's
table and writes its data to `bench/results/<name>.json`. Timings are wall-clock
(`time.perf_counter`) with the garbage collector paused, as `timeit` does, and the best of
several repeats is what we report: the minimum is the run least disturbed by the machine.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

RESULTS = Path(__file__).parent / "results"
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

T = TypeVar("T")


@dataclass
class Report:
    """One benchmark's outcome: a table for people and a dict for results/<name>.json."""

    name: str  # the module's name, and the JSON file's
    title: str
    headers: list[str]
    rows: list[list[str]]  # already formatted, one string per header
    data: dict[str, Any]  # every number, JSON-ready
    notes: list[str] = field(default_factory=list)  # printed under the table


def clock(fn: Callable[[], T]) -> tuple[float, T]:
    """Return (seconds, result) of one call of fn, with the garbage collector paused."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
    return elapsed, result


def blas_info() -> dict[str, Any] | None:
    """Return NumPy's BLAS and LAPACK build facts, or None if this NumPy cannot say."""
    try:
        config = np.show_config(mode="dicts")
    except (TypeError, ValueError):  # NumPy < 1.26 has no mode="dicts"
        return None
    if not isinstance(config, dict):
        return None
    deps = config.get("Build Dependencies", {})
    simd = config.get("SIMD Extensions", {})
    return {"blas": deps.get("blas"), "lapack": deps.get("lapack"), "simd": simd}


def machine_info() -> dict[str, Any]:
    """Return what the numbers depend on: interpreter, NumPy, BLAS, CPUs and the time."""
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "blas": blas_info(),
        "environment": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Return rows as an aligned text table: first column left, the others right."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def write_results(report: Report, machine: dict[str, Any]) -> Path:
    """Write the report's data and the machine facts to results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report.name}.json"
    payload = {"benchmark": report.name, "machine": machine, **report.data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path
