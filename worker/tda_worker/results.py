"""Results of the worker: diagrams + requested features → JSON documents, NPZ archives, summaries.

One dataset gives one JSON document (summary, diagrams, features; readable by anything) and one
NPZ archive (the same arrays as float64, exact). Deaths at infinity (essential classes) are `null`
in JSON and `inf` in NPZ.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEATURES = ("diagrams", "bettiCurves", "landscapes", "persistenceImages", "entropy")
RESULT_VERSION = 1

# Feature name in the spec -> name of the tda_core function computing it on one diagram.
_FEATURE_FUNCTIONS = {
    "bettiCurves": "betti_curve",
    "landscapes": "persistence_landscape",
    "persistenceImages": "persistence_image",
    "entropy": "persistent_entropy",
}
CURVE_BINS = 100
LANDSCAPE_LAYERS = 5
IMAGE_RESOLUTION = (20, 20)


@dataclass
class DatasetResult:
    id: str
    kind: str
    n_points: int
    diagrams: list[np.ndarray]
    features: dict[str, list[Any]] = field(default_factory=dict)  # name -> one entry per dimension
    feature_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # grids, ranges
    seconds: float = 0.0

    @property
    def interval_counts(self) -> list[int]:
        return interval_counts(self.diagrams)

    @property
    def max_persistence(self) -> list[float]:
        return max_persistence(self.diagrams)


# --------------------------------------------------------------------------- summaries


def interval_counts(diagrams: Sequence[np.ndarray]) -> list[int]:
    """Intervals of positive persistence per dimension (zero-length pairs carry no topology)."""
    return [int(np.count_nonzero(d[:, 1] > d[:, 0])) if len(d) else 0 for d in diagrams]


def max_persistence(diagrams: Sequence[np.ndarray]) -> list[float]:
    """Largest finite death - birth per dimension (0 when there is none)."""
    out = []
    for d in diagrams:
        finite = d[np.isfinite(d[:, 1])] if len(d) else d
        out.append(float(np.max(finite[:, 1] - finite[:, 0])) if len(finite) else 0.0)
    return out


@dataclass
class Tally:
    """Running summary of a shard: interval counts summed, max persistence maxed, per dimension.

    Kept instead of the results themselves when they go to object storage, so a pod with
    thousands of datasets holds one dataset's diagrams at a time.
    """

    counts: list[int] = field(default_factory=list)
    maxima: list[float] = field(default_factory=list)
    seconds: float = 0.0
    succeeded: int = 0

    def add(self, result: DatasetResult) -> None:
        for q, (c, m) in enumerate(zip(result.interval_counts, result.max_persistence, strict=True)):
            if q == len(self.counts):
                self.counts.append(0)
                self.maxima.append(0.0)
            self.counts[q] += c
            self.maxima[q] = max(self.maxima[q], m)
        self.seconds += result.seconds
        self.succeeded += 1


def merge_summaries(results: Iterable[DatasetResult]) -> tuple[list[int], list[float]]:
    """Interval counts summed and max persistence maxed over datasets, per dimension."""
    tally = Tally()
    for r in results:
        tally.add(r)
    return tally.counts, tally.maxima


# --------------------------------------------------------------------------- features


def feature_grid(diagrams: Sequence[np.ndarray]) -> tuple[tuple[float, float], float]:
    """One sampling range for all dimensions of a dataset (so their curves line up) and the
    largest finite persistence: from the smallest finite birth to the largest finite death."""
    pairs = np.concatenate([np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in diagrams] + [np.zeros((0, 2))])
    finite = pairs[np.isfinite(pairs[:, 1])]
    values = pairs[np.isfinite(pairs)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    top = float((finite[:, 1] - finite[:, 0]).max()) if len(finite) else 0.0
    return (lo, hi), (top if top > 0 else 1.0)


def compute_features(
    diagrams: Sequence[np.ndarray], features: Iterable[str]
) -> tuple[dict[str, list[Any]], dict[str, dict[str, Any]]]:
    """The requested vectorizations from tda_core, one per homology dimension, and the
    parameters (grids, ranges) needed to read them."""
    import tda_core

    wanted = [f for f in features if f != "diagrams"]
    for name in wanted:
        if name not in _FEATURE_FUNCTIONS:
            raise ValueError(f"computation.features: unknown feature {name!r}; known: {', '.join(FEATURES)}")
        if not hasattr(tda_core, _FEATURE_FUNCTIONS[name]):  # a platform defect, not bad input
            raise RuntimeError(f"this tda_core build has no {_FEATURE_FUNCTIONS[name]}() for feature {name!r}")
    (lo, hi), top = feature_grid(diagrams)
    out: dict[str, list[Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    for name in wanted:
        if name == "bettiCurves":
            out[name] = [tda_core.betti_curve(d, n_bins=CURVE_BINS, sample_range=(lo, hi)) for d in diagrams]
            params[name] = {"sampleRange": [lo, hi], "nBins": CURVE_BINS}
        elif name == "landscapes":
            out[name] = [tda_core.persistence_landscape(d, n_layers=LANDSCAPE_LAYERS, n_bins=CURVE_BINS,
                                                        sample_range=(lo, hi)) for d in diagrams]
            params[name] = {"sampleRange": [lo, hi], "nBins": CURVE_BINS, "nLayers": LANDSCAPE_LAYERS}
        elif name == "persistenceImages":
            # Shared axes across dimensions: birth over the dataset's range, persistence from 0.
            out[name] = [tda_core.persistence_image(d, resolution=IMAGE_RESOLUTION, birth_range=(lo, hi),
                                                    persistence_range=(0.0, top)) for d in diagrams]
            params[name] = {"resolution": list(IMAGE_RESOLUTION), "birthRange": [lo, hi],
                            "persistenceRange": [0.0, top], "weight": "persistence"}
        elif name == "entropy":
            out[name] = [tda_core.persistent_entropy(d) for d in diagrams]
            params[name] = {"of": "finite intervals"}
    return out, params


# --------------------------------------------------------------------------- encoding


def _jsonable(value: Any) -> Any:
    """numpy values and tuples → JSON, with non-finite floats as null (JSON has no inf)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return _jsonable(value.tolist())
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _arrays(prefix: str, value: Any) -> dict[str, np.ndarray]:
    """A feature value (array, scalar or tuple of arrays such as (grid, values)) as named arrays."""
    if isinstance(value, tuple):
        arrays: dict[str, np.ndarray] = {}
        for i, v in enumerate(value):
            arrays.update(_arrays(f"{prefix}_{i}", v))
        return arrays
    if isinstance(value, dict):
        arrays = {}
        for k, v in value.items():
            arrays.update(_arrays(f"{prefix}_{k}", v))
        return arrays
    return {prefix: np.asarray(value)}


def dataset_document(result: DatasetResult, job: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": RESULT_VERSION,
        "id": result.id,
        "kind": result.kind,
        "points": result.n_points,
        "computeSeconds": round(result.seconds, 6),
        "summary": {"intervalCounts": result.interval_counts, "maxPersistence": result.max_persistence},
        "diagrams": [_jsonable(d) for d in result.diagrams],
    }
    if result.features:
        doc["features"] = _jsonable(result.features)
        doc["featureParameters"] = _jsonable(result.feature_parameters)
    if job:
        doc["job"] = job
    return doc


def dataset_arrays(result: DatasetResult) -> dict[str, np.ndarray]:
    """NPZ members of one dataset: diagram_<q>, <feature>_<q>."""
    arrays = {f"diagram_{q}": np.asarray(d, dtype=np.float64) for q, d in enumerate(result.diagrams)}
    for name, per_dim in result.features.items():
        for q, value in enumerate(per_dim):
            arrays.update(_arrays(f"{name}_{q}", value))
    return arrays


def to_json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def to_npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types allow_pickle too
    return buf.getvalue()


def shard_arrays(results: Sequence[DatasetResult]) -> dict[str, np.ndarray]:
    """NPZ members of a shard: <dataset id>/diagram_<q>, ..."""
    return {f"{r.id}/{k}": v for r in results for k, v in dataset_arrays(r).items()}


def shard_json_gz(results: Sequence[DatasetResult], failed: Sequence[dict[str, str]],
                  job: dict[str, Any] | None = None) -> bytes:
    doc = {"v": RESULT_VERSION, "datasets": [dataset_document(r) for r in results], "failed": list(failed)}
    if job:
        doc["job"] = job
    # mtime=0: the same results give the same bytes, so a re-applied ConfigMap does not change.
    return gzip.compress(to_json_bytes(doc), compresslevel=9, mtime=0)


def read_shard_json_gz(data: bytes) -> dict[str, Any]:
    return json.loads(gzip.decompress(data))


def diagrams_from_json(diagrams: list[list[list[float | None]]]) -> list[np.ndarray]:
    """JSON diagrams (null deaths) back to float64 (n, 2) arrays with inf."""
    out = []
    for dgm in diagrams:
        arr = np.array([[b, math.inf if d is None else d] for b, d in dgm], dtype=np.float64)
        out.append(arr.reshape(-1, 2))
    return out
