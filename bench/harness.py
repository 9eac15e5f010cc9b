"""Reusable benchmark harness: one computation per subprocess, median time, peak RSS.

A benchmark module (e.g. ``bench/bench_core.py``) describes each measurement as a
:class:`Task`: which modules to import first, a function that builds the input, and a
function that performs the computation. :func:`run_task` runs the task in a fresh
Python process (``python bench/harness.py --worker <json>``), so each measurement
starts from the same state and its peak RSS belongs to that computation alone.

Inside the worker:

1. the listed modules are imported (library import cost is never timed);
2. the input is built; the resident set size at this point is the *baseline*;
3. the computation runs ``repeats`` times; only the call itself is timed;
4. the worker prints one JSON line: every wall time, their median, the median CPU
   time (all threads; the fairer single-thread figure on a shared machine), the
   whole-process peak RSS (``getrusage``), and the growth of the peak over the baseline.

Functions are named ``"module:function"``; modules are looked up on ``sys.path``,
which includes ``bench/`` (the worker's own directory), so a benchmark module can
keep its data builders and library adapters next to its cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

WORKER_MARK = "@@harness-result@@"
_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Task:
    """One computation to measure in its own process."""

    label: str  # e.g. "tda_core" or "giotto-ph (2 thr)"
    target: str  # "module:function"; called as function(data, **params)
    data: str  # "module:function"; called as function(**data_kwargs) -> input
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    imports: Sequence[str] = ()  # imported before the baseline RSS is taken
    repeats: int = 3
    warmup: int = 0  # untimed runs before the timed ones
    timeout_s: float | None = None  # whole subprocess, including imports


@dataclass
class Result:
    label: str
    ok: bool
    median_s: float = math.nan  # wall clock
    times_s: list[float] = field(default_factory=list)
    cpu_s: float = math.nan  # median CPU time of the process (all threads): robust on a busy machine
    peak_rss_mb: float = math.nan  # whole process, high-water mark
    baseline_rss_mb: float = math.nan  # after imports and input construction
    rss_growth_mb: float = math.nan  # peak minus baseline
    summary: Any = None  # whatever the target returned through `summarize`
    error: str | None = None
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }


def _resolve(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"expected 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


def _current_rss_mb() -> float:
    """Resident set size now (not the peak), from /proc when available."""
    try:
        with open("/proc/self/statm") as fh:
            resident_pages = int(fh.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # non-Linux: fall back to psutil
        import psutil

        return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def summarize(value: Any) -> Any:
    """A small JSON-able digest of a computation's result (for cross-checking)."""
    if isinstance(value, list | tuple) and all(hasattr(v, "shape") for v in value):
        return [int(v.shape[0]) for v in value]  # e.g. number of pairs per dimension
    if hasattr(value, "shape"):
        return list(value.shape)
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return None


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    for module_name in spec["imports"]:
        importlib.import_module(module_name)
    target = _resolve(spec["target"])
    data = _resolve(spec["data"])(**spec["data_kwargs"])
    params = spec["params"]
    baseline = _current_rss_mb()
    for _ in range(spec["warmup"]):
        target(data, **params)
    times, cpu, out = [], [], None
    for _ in range(spec["repeats"]):
        out = None  # free the previous result before the next run
        start, start_cpu = time.perf_counter(), time.process_time()
        out = target(data, **params)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak = _peak_rss_mb()
    return {
        "ok": True,
        "times_s": times,
        "median_s": statistics.median(times),
        "cpu_s": statistics.median(cpu),
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "rss_growth_mb": max(0.0, peak - baseline),
        "summary": summarize(out),
    }


def run_task(task: Task, python: str = sys.executable) -> Result:
    """Run `task` in a fresh interpreter and collect its measurements."""
    spec = {
        "target": task.target,
        "data": task.data,
        "data_kwargs": task.data_kwargs,
        "params": task.params,
        "imports": list(task.imports),
        "repeats": task.repeats,
        "warmup": task.warmup,
    }
    cmd = [python, os.path.join(_HERE, "harness.py"), "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=task.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return Result(task.label, ok=False, error=f"timeout after {task.timeout_s:.0f} s")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(WORKER_MARK):
            payload = json.loads(line[len(WORKER_MARK) :])
            return Result(task.label, **payload)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return Result(task.label, ok=False, error=f"exit {proc.returncode}: " + " | ".join(tail))


def skipped(label: str, reason: str) -> Result:
    """A result standing for a task that was deliberately not run."""
    return Result(label, ok=False, skipped=True, error=reason)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain fixed-width table; floats get 3 significant decimals."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            if math.isnan(v):
                return "-"
            return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(format_table(headers, rows), flush=True)


def emit_json(obj: Any) -> None:
    """The benchmark's machine-readable summary: one JSON object on the last line."""
    print(json.dumps(obj, separators=(",", ":"), default=str), flush=True)


def _main() -> int:
    parser = argparse.ArgumentParser(description="benchmark worker (internal)")
    parser.add_argument("--worker", required=True, help="JSON task spec")
    args = parser.parse_args()
    spec = json.loads(args.worker)
    try:
        payload = _worker(spec)
    except Exception as exc:  # report, don't crash the whole benchmark
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(WORKER_MARK + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
