"""`make bench-core` (part 2): cubical persistence and diagram distances against their peers.

Each (case, library) runs in its own process through ``bench/harness.py`` (imports
untimed, median over repeats, whole-process peak RSS). Cases:

* cubical: a 512x512 and a 64^3 smoothed-noise array (Gaussian filter, sigma 2, of
  uniform noise), in both constructions: V (pixels as vertices; peer cripser) and
  T (pixels as top cells; peers cripser's computePH_T and GUDHI's CubicalComplex);
* distances between two random diagrams of 1,000 and 5,000 points: bottleneck
  (tda_core exact and delta=0.01; peers GUDHI exact, Hera delta=0.01) and
  Wasserstein p=1, p=2 (tda_core and Hera, both delta=0.01, L-infinity ground metric).
  persim is no peer here: its ``wasserstein`` uses the Euclidean ground metric (other
  values) and a dense Hungarian solve (about 170 s for this pair on a busy 2-core box),
  and its ``bottleneck`` is cubic as well.

The ratio columns divide tda_core's figure (wall time, CPU time, peak RSS) by the best
peer's (< 1: tda_core wins);
the summary column holds pairs per dimension or the distance, to cross-check values.

Usage: python bench/bench_cubical.py [--quick] [--cases image,volume,...] [--repeats N]
The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Result, Task, emit_json, print_table, run_task, skipped  # noqa: E402

# ---------------------------------------------------------------- data sets


def smoothed_noise(shape: list[int], sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.random.default_rng(seed).random(tuple(shape)), sigma)


def diagram_pair(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two diagrams with uniform births and exponential lifetimes (mean 0.1)."""
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        birth = rng.random(n)
        out.append(np.c_[birth, birth + rng.exponential(0.1, n)])
    return out[0], out[1]


# ---------------------------------------------------------------- adapters (run inside the worker)


def cubical_tda_core(arr: np.ndarray, construction: str) -> list:
    import tda_core

    return tda_core.cubical_persistence(arr, construction=construction)


def cubical_cripser(arr: np.ndarray, construction: str) -> list:
    import cripser

    compute = cripser.computePH if construction == "V" else cripser.computePH_T
    res = compute(arr, maxdim=arr.ndim - 1)
    return [res[res[:, 0] == k] for k in range(arr.ndim)]


def cubical_gudhi(arr: np.ndarray, construction: str) -> list:
    import gudhi

    assert construction == "T"
    cc = gudhi.CubicalComplex(top_dimensional_cells=arr)
    cc.compute_persistence(homology_coeff_field=2, min_persistence=0)
    return [cc.persistence_intervals_in_dimension(k) for k in range(arr.ndim)]


def bottleneck_tda_core(pair: tuple, delta: float = 0.0, **_: Any) -> float:
    import tda_core

    return tda_core.bottleneck(pair[0], pair[1], delta=delta)


def bottleneck_gudhi(pair: tuple, **_: Any) -> float:
    import gudhi

    return gudhi.bottleneck_distance(pair[0], pair[1])


def bottleneck_hera(pair: tuple, delta: float = 0.01, **_: Any) -> float:
    import gudhi.hera

    return gudhi.hera.bottleneck_distance(pair[0], pair[1], delta=delta)


def wasserstein_tda_core(pair: tuple, p: float, delta: float = 0.01) -> float:
    import tda_core

    return tda_core.wasserstein(pair[0], pair[1], p=p, delta=delta)


def wasserstein_hera(pair: tuple, p: float, delta: float = 0.01) -> float:
    import gudhi.hera

    return gudhi.hera.wasserstein_distance(pair[0], pair[1], order=p, internal_p=math.inf, delta=delta)


# ---------------------------------------------------------------- cases


@dataclass
class Entry:
    label: str
    adapter: str
    imports: list[str]
    params: dict[str, Any]
    ours: bool = False
    predicted_s: float | None = None  # skip when above the budget


@dataclass
class Case:
    name: str
    data: str
    data_kwargs: dict[str, Any]
    entries: list[Entry]
    quick: bool = False
    repeats: int = 5


def _cubical(name: str, shape: list[int], construction: str, quick: bool) -> Case:
    entries = [
        Entry("tda_core", "cubical_tda_core", ["numpy", "tda_core"], {"construction": construction}, ours=True),
        Entry("cripser", "cubical_cripser", ["numpy", "cripser"], {"construction": construction}),
    ]
    if construction == "T":
        entries.append(Entry("gudhi", "cubical_gudhi", ["numpy", "gudhi"], {"construction": "T"}))
    return Case(name, "smoothed_noise", {"shape": shape}, entries, quick=quick)


PAIR = {"sizes": [1000, 5000]}
CASES = [
    _cubical("image-512-V", [512, 512], "V", quick=True),
    _cubical("image-512-T", [512, 512], "T", quick=False),
    _cubical("volume-64-V", [64, 64, 64], "V", quick=True),
    _cubical("volume-64-T", [64, 64, 64], "T", quick=False),
    Case("bottleneck-1k-5k", "diagram_pair", PAIR, [
        Entry("tda_core (exact)", "bottleneck_tda_core", ["numpy", "tda_core"], {"delta": 0.0}, ours=True),
        Entry("tda_core (delta=0.01)", "bottleneck_tda_core", ["numpy", "tda_core"], {"delta": 0.01}, ours=True),
        Entry("gudhi (exact)", "bottleneck_gudhi", ["numpy", "gudhi"], {}),
        Entry("hera (delta=0.01)", "bottleneck_hera", ["numpy", "gudhi.hera"], {"delta": 0.01}),
    ], quick=True),
    Case("wasserstein1-1k-5k", "diagram_pair", PAIR, [
        Entry("tda_core", "wasserstein_tda_core", ["numpy", "tda_core"], {"p": 1.0}, ours=True),
        Entry("hera", "wasserstein_hera", ["numpy", "gudhi.hera"], {"p": 1.0}),
    ], quick=True, repeats=3),
    Case("wasserstein2-1k-5k", "diagram_pair", PAIR, [
        Entry("tda_core", "wasserstein_tda_core", ["numpy", "tda_core"], {"p": 2.0}, ours=True),
        Entry("hera", "wasserstein_hera", ["numpy", "gudhi.hera"], {"p": 2.0}),
    ], repeats=3),
]


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """The cubical and distance cases: prints their table, returns their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced set of cases, fewer repeats")
    parser.add_argument("--cases", default="", help="comma-separated case names (prefix match)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds; skip peers predicted to exceed it")
    args = parser.parse_args(argv)

    cases = [c for c in CASES if c.quick] if args.quick else list(CASES)
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
        cases = [c for c in CASES if any(c.name.startswith(w) for w in wanted)]

    rows, report = [], {"cases": {}, "budget_s": args.budget}
    started = time.perf_counter()
    for case in cases:
        repeats = args.repeats or (2 if args.quick else case.repeats)
        results: dict[str, Result] = {}
        for entry in case.entries:
            if entry.predicted_s is not None and entry.predicted_s > args.budget:
                results[entry.label] = skipped(
                    entry.label, f"skipped: predicted {entry.predicted_s:.0f} s > budget {args.budget:.0f} s"
                )
                continue
            task = Task(
                label=entry.label,
                target=f"bench_cubical:{entry.adapter}",
                data=f"bench_cubical:{case.data}",
                data_kwargs=case.data_kwargs,
                params=entry.params,
                imports=entry.imports,
                repeats=repeats,
                warmup=1,
                timeout_s=max(120.0, 8 * args.budget),
            )
            results[entry.label] = run_task(task)
        peers = [e.label for e in case.entries if not e.ours and results[e.label].ok]
        best_t = min((results[k].median_s for k in peers), default=math.nan)
        best_c = min((getattr(results[k], "cpu_s", math.nan) for k in peers), default=math.nan)
        best_m = min((results[k].peak_rss_mb for k in peers), default=math.nan)
        case_report = {}
        for entry in case.entries:
            res = results[entry.label]
            cpu = getattr(res, "cpu_s", math.nan)
            ratio_t = ratio_c = ratio_m = math.nan
            if entry.ours and res.ok:
                ratio_t, ratio_c, ratio_m = res.median_s / best_t, cpu / best_c, res.peak_rss_mb / best_m
            rows.append([case.name, entry.label, res.median_s, cpu, res.peak_rss_mb, res.rss_growth_mb, ratio_t,
                         ratio_c, ratio_m, str(res.summary) if res.ok else (res.error or "failed")])
            item = res.to_json()
            item.update({"time_ratio_to_best_peer": ratio_t, "cpu_ratio_to_best_peer": ratio_c,
                         "rss_ratio_to_best_peer": ratio_m})
            case_report[entry.label] = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                                        for k, v in item.items()}
        report["cases"][case.name] = case_report
        print(f"# {case.name} done ({time.perf_counter() - started:.0f} s elapsed)", file=sys.stderr, flush=True)

    print_table(
        ["case", "library", "median s", "cpu s", "peak RSS MB", "RSS growth MB", "time/best", "cpu/best", "RSS/best",
         "summary or status"],
        rows,
    )
    print("time/best, cpu/best, RSS/best: tda_core over the best peer of the case (< 1: tda_core is faster / "
          "smaller); cpu s is the median process CPU time, steadier than wall time on a busy machine.")
    return report


def main(argv: list[str] | None = None) -> int:
    emit_json(run(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
