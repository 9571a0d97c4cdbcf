"""Run the benchmarks: `python -m bench [name ...]` (what `make bench` does).

Each name in `BENCHMARKS` is a module `bench.<name>` exposing `run() -> Report`; they run
in order, each prints its table and writes `bench/results/<name>.json`. A missed target is
reported, never an error: only a benchmark that cannot run correctly (for example a floor
that disagrees with the engine) stops with a traceback and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from .common import Report, format_table, machine_info, write_results

BENCHMARKS = ["engine", "api", "web", "playground", "browser", "replicas"]  # run in order


def run_benchmark(name: str) -> Report:
    """Import bench.<name> and return its report."""
    module = importlib.import_module(f"{__package__ or 'bench'}.{name}")
    report: Report = module.run()
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks (all by default), print their tables, write their JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {BENCHMARKS}")
    names = parser.parse_args(argv).names or BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    machine = machine_info()
    blas = (machine["blas"] or {}).get("blas") or {}
    load = machine["load_average"]
    print(
        f"Python {machine['python']}, NumPy {machine['numpy']}, "
        f"BLAS {blas.get('name', '?')} {blas.get('version', '')}, {machine['cpu_count']} CPUs"
        + (f", load average {load[0]:.2f}" if load else "")
    )
    for name in names:
        start = time.perf_counter()
        report = run_benchmark(name)
        path = write_results(report, machine)
        print(f"\n{report.title}\n")
        print(format_table(report.headers, report.rows))
        for note in report.notes:
            print(f"  {note}")
        print(f"\n  {time.perf_counter() - start:.1f} s; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
