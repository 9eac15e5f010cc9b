"""`make bench-core`: tda_core against its peers — Vietoris–Rips here, cubical and distances in bench_cubical.py.

Each (case, library) runs in its own process through ``bench/harness.py``:
libraries are imported first, only the computation is timed (median over
repeats), and the whole-process peak RSS and its growth over the RSS after
imports are reported. Peers: ripser.py, giotto-ph (1 and 2 threads), GUDHI.
tda_core runs at 1 and 2 threads; the ratio column compares it with the best
peer at the same thread count (time and peak RSS; < 1 means tda_core wins).

Usage: python bench/bench_core.py [--suite all|rips|cubical] [--quick] [--cases s3,torus2000] [--repeats N] [--budget S]
The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Result, Task, emit_json, print_table, run_task, skipped  # noqa: E402

# ---------------------------------------------------------------- data sets


def sphere3(n: int, seed: int = 0) -> np.ndarray:
    """Uniform random points on the unit 3-sphere in R^4."""
    x = np.random.default_rng(seed).standard_normal((n, 4))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def o3(n: int, seed: int = 0) -> np.ndarray:
    """Haar-random orthogonal 3x3 matrices, flattened to points of R^9."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]  # Haar measure on O(3)
    return q.reshape(n, 9)


def torus(n: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """Noisy points on a torus of radii 2 and 1 in R^3."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    big, small = 2.0, 1.0
    pts = np.stack(
        [(big + small * np.cos(v)) * np.cos(u), (big + small * np.cos(v)) * np.sin(u), small * np.sin(v)], 1
    )
    return pts + noise * rng.standard_normal(pts.shape)


def cube(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, dim))


def circles(n: int, k: int = 15, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """n points on k noisy unit circles with random centres in the plane."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 10, (k, 2))
    which = rng.integers(0, k, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    pts = centres[which] + np.stack([np.cos(angle), np.sin(angle)], 1)
    return pts + noise * rng.standard_normal(pts.shape)


# ---------------------------------------------------------------- adapters (run inside the worker)


def run_tda_core(X: np.ndarray, max_dim: int, threshold: float | None, n_threads: int = 1,
                 collapse_edges: bool = False) -> list:
    import tda_core

    return tda_core.rips_persistence(X, max_dim=max_dim, threshold=threshold, n_threads=n_threads,
                                     collapse_edges=collapse_edges)


def run_ripser(X: np.ndarray, max_dim: int, threshold: float | None, n_threads: int = 1) -> list:
    from ripser import ripser

    return ripser(X, maxdim=max_dim, thresh=math.inf if threshold is None else threshold)["dgms"]


def run_giotto(X: np.ndarray, max_dim: int, threshold: float | None, n_threads: int = 1,
               collapse_edges: bool = False) -> list:
    from gph import ripser_parallel

    thresh = math.inf if threshold is None else threshold
    return ripser_parallel(X, maxdim=max_dim, thresh=thresh, n_threads=n_threads,
                           collapse_edges=collapse_edges)["dgms"]


def run_gudhi(X: np.ndarray, max_dim: int, threshold: float | None, n_threads: int = 1) -> list:
    import gudhi

    kwargs = {} if threshold is None else {"max_edge_length": threshold}
    st = gudhi.RipsComplex(points=X, **kwargs).create_simplex_tree(max_dimension=max_dim + 1)
    st.compute_persistence(homology_coeff_field=2, min_persistence=0)
    return [st.persistence_intervals_in_dimension(d) for d in range(max_dim + 1)]


LIBRARIES: dict[str, tuple[str, list[str], int]] = {
    # label: (adapter, modules imported before timing, threads)
    "tda_core": ("run_tda_core", ["numpy", "tda_core"], 1),
    "tda_core (2 thr)": ("run_tda_core", ["numpy", "tda_core"], 2),
    "ripser.py": ("run_ripser", ["numpy", "ripser"], 1),
    "giotto-ph": ("run_giotto", ["numpy", "gph"], 1),
    "giotto-ph (2 thr)": ("run_giotto", ["numpy", "gph"], 2),
    "gudhi": ("run_gudhi", ["numpy", "gudhi"], 1),
}


# ---------------------------------------------------------------- cases


@dataclass
class Case:
    name: str
    data: str  # generator in this module
    data_kwargs: dict[str, Any]
    max_dim: int
    threshold: float | None
    quick: bool = False  # part of --quick
    # Peers whose run is predicted (from earlier measurements on this machine
    # kind) to exceed the per-case budget: label -> predicted seconds.
    predicted_s: dict[str, float] = field(default_factory=dict)
    repeats: int = 3
    collapse_edges: bool = False  # edge collapse first; the peer is giotto-ph with collapse_edges=True


CASES = [
    Case("s3-192", "sphere3", {"n": 192}, 2, None, quick=True, predicted_s={"gudhi": 62}),
    Case("o3-1024", "o3", {"n": 1024}, 3, 1.8, predicted_s={"gudhi": 400}),
    Case("torus-2000", "torus", {"n": 2000}, 2, 0.5, quick=True),
    Case("cube8-600", "cube", {"n": 600}, 2, 0.8, quick=True, predicted_s={"gudhi": 120}),
    Case(
        "circles-3000",
        "circles",
        {"n": 3000},
        1,
        None,
        repeats=1,
        predicted_s={"gudhi": 600, "ripser.py": 50},
    ),
    Case("tori-1000", "torus", {"n": 1000}, 2, 0.3, quick=True),
    Case("tori-2000", "torus", {"n": 2000}, 2, 0.3),
    Case("tori-4000", "torus", {"n": 4000}, 2, 0.3),
    Case("tori-8000", "torus", {"n": 8000}, 2, 0.3),
    Case("o3-4096", "o3", {"n": 4096}, 3, 1.4, repeats=1, predicted_s={"gudhi": 3000, "ripser.py": 110}),
    Case("s3-192+collapse", "sphere3", {"n": 192}, 2, None, quick=True, collapse_edges=True),
    Case("o3-1024+collapse", "o3", {"n": 1024}, 3, 1.8, collapse_edges=True),
    Case("torus-2000+collapse", "torus", {"n": 2000}, 2, 0.5, collapse_edges=True),
]
#: Libraries with an edge collapse: the only ones run on collapse cases.
COLLAPSING = ("tda_core", "tda_core (2 thr)", "giotto-ph", "giotto-ph (2 thr)")


def _tasks(case: Case, labels: list[str], repeats: int | None, budget: float) -> list[Task | Result]:
    out: list[Task | Result] = []
    for label in labels:
        adapter, imports, threads = LIBRARIES[label]
        params: dict[str, Any] = {"max_dim": case.max_dim, "threshold": case.threshold, "n_threads": threads}
        if case.collapse_edges:
            params["collapse_edges"] = True
        predicted = case.predicted_s.get(label)
        if predicted is not None and predicted > budget:
            out.append(skipped(label, f"skipped: predicted {predicted:.0f} s > budget {budget:.0f} s"))
            continue
        out.append(
            Task(
                label=label,
                target=f"bench_core:{adapter}",
                data=f"bench_core:{case.data}",
                data_kwargs=case.data_kwargs,
                params=params,
                imports=imports,
                repeats=repeats or case.repeats,
                timeout_s=max(1200.0, 10 * budget),
            )
        )
    return out


def _best(results: dict[str, Result], labels: list[str], attr: str) -> float:
    values = [getattr(results[k], attr) for k in labels if k in results and results[k].ok]
    return min(values) if values else math.nan


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """The Rips cases: prints their table, returns their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced set of cases, one repeat")
    parser.add_argument("--cases", default="", help="comma-separated case names (prefix match)")
    parser.add_argument("--libraries", default="", help="comma-separated library labels to run")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="seconds; skip peers predicted (from earlier runs) to exceed it",
    )
    args = parser.parse_args(argv)

    cases = [c for c in CASES if c.quick] if args.quick else list(CASES)
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
        cases = [c for c in CASES if any(c.name.startswith(w) for w in wanted)]
    labels = [k.strip() for k in args.libraries.split(",") if k.strip()] or list(LIBRARIES)
    repeats = 1 if args.quick and args.repeats is None else args.repeats

    rows, report = [], {"cases": {}, "budget_s": args.budget}
    started = time.perf_counter()
    for case in cases:
        results: dict[str, Result] = {}
        case_labels = [k for k in labels if k in COLLAPSING] if case.collapse_edges else labels
        for item in _tasks(case, case_labels, repeats, args.budget):
            res = item if isinstance(item, Result) else run_task(item)
            results[res.label] = res
        peers = {1: ["ripser.py", "giotto-ph", "gudhi"], 2: ["giotto-ph (2 thr)"]}
        case_report: dict[str, Any] = {}
        for label in case_labels:
            res = results[label]
            threads = LIBRARIES[label][2]
            ratios = {"time": math.nan, "cpu": math.nan, "rss": math.nan}
            if label.startswith("tda_core") and res.ok:
                for key, attr in (("time", "median_s"), ("cpu", "cpu_s"), ("rss", "peak_rss_mb")):
                    ratios[key] = getattr(res, attr) / _best(results, peers[threads], attr)
            status = "ok" if res.ok else (res.error or "failed")
            rows.append(
                [
                    case.name,
                    label,
                    res.median_s,
                    res.cpu_s,
                    res.peak_rss_mb,
                    res.rss_growth_mb,
                    ratios["time"],
                    ratios["cpu"],
                    ratios["rss"],
                    str(res.summary) if res.ok else status,
                ]
            )
            entry = res.to_json()
            entry.update({f"{k}_ratio_to_best_peer": v for k, v in ratios.items()})
            case_report[label] = {
                k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in entry.items()
            }
        # What a second thread buys each library: its 1-thread wall time over its 2-thread one.
        case_report["speedup_1_to_2"] = {
            lib: results[lib].median_s / results[f"{lib} (2 thr)"].median_s
            for lib in ("tda_core", "giotto-ph")
            if lib in results and f"{lib} (2 thr)" in results and results[lib].ok and results[f"{lib} (2 thr)"].ok
        }
        report["cases"][case.name] = case_report
        for row in rows[-len(case_labels) :]:  # progress; the full table comes at the end
            print(
                "# " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row),
                file=sys.stderr,
            )
        print(
            f"# {case.name} done ({time.perf_counter() - started:.0f} s elapsed)", file=sys.stderr, flush=True
        )

    print_table(
        [
            "case",
            "library",
            "wall s",
            "cpu s",
            "peak RSS MB",
            "RSS growth MB",
            "wall/best",
            "cpu/best",
            "RSS/best",
            "pairs or status",
        ],
        rows,
    )
    print(
        "x/best: tda_core over the best peer at the same thread count (1 thread: ripser.py, giotto-ph, "
        "gudhi; 2 threads: giotto-ph); < 1 means tda_core is faster/leaner. wall and cpu are medians of the "
        "computation alone; cpu sums all threads and is the robust figure when the machine is shared."
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """Rips cases, then the cubical and distance cases of bench_cubical.py; one JSON line for all."""
    argv = list(sys.argv[1:] if argv is None else argv)
    suite = "all"
    if "--suite" in argv:
        at = argv.index("--suite")
        suite = argv[at + 1]
        del argv[at : at + 2]
    report: dict[str, Any] = {}
    if suite in ("all", "rips"):
        report["rips"] = run(argv)
    if suite in ("all", "cubical"):
        import bench_cubical

        report["cubical"] = bench_cubical.run(["--quick"] if "--quick" in argv else [])
    emit_json(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
