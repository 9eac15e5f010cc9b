"""Topological features of one window of one key: pure functions over numpy arrays.

The Flink job calls :func:`diagrams_of` and :func:`record_of` per (key, window) (count
windows: :func:`window_record`, the two together); tests call the same functions offline
on the same points, so every output record can be checked exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tda_core

from .spec import Computation, JobSpec

OUTPUT_SCHEMA = "tda.io/window-features/v1"
Diagrams = list[np.ndarray]


def points_of(values: np.ndarray, embedding: tuple[int, int] | None) -> np.ndarray:
    """The window's point cloud: each record's values, or the delay embedding of a scalar
    series (no points when the window is too short for the embedding's span)."""
    if embedding is None:
        return np.ascontiguousarray(values, dtype=np.float64)
    dimension, delay = embedding
    series = values[:, 0]
    if series.size <= (dimension - 1) * delay:
        return np.empty((0, dimension))
    return tda_core.delay_embedding(series, dimension, delay)


def diagrams_of(points: np.ndarray, computation: Computation) -> Diagrams:
    if points.shape[0] == 0:
        return [np.empty((0, 2)) for _ in range(computation.max_dimension + 1)]
    return tda_core.rips_persistence(points, max_dim=computation.max_dimension, threshold=computation.threshold)


def _finite(diagram: np.ndarray) -> np.ndarray:
    return diagram[np.isfinite(diagram[:, 1])]


def betti_at(diagram: np.ndarray, scale: float | None) -> int:
    """Classes alive at ``scale`` (born at or before it, dying after); None: at the end of
    the filtration, i.e. the essential classes."""
    if scale is None:
        return int(np.isinf(diagram[:, 1]).sum())
    return int(((diagram[:, 0] <= scale) & (diagram[:, 1] > scale)).sum())


def top_pairs(diagram: np.ndarray, k: int) -> list[list[float | None]]:
    """The k most persistent pairs, longest first (essential classes first; death None)."""
    life = diagram[:, 1] - diagram[:, 0]
    order = np.lexsort((diagram[:, 0], -life))[:k]
    return [[float(diagram[i, 0]), None if np.isinf(diagram[i, 1]) else float(diagram[i, 1])] for i in order]


def change_score(previous: Diagrams, current: Diagrams) -> float:
    """W1 distance between two windows' diagrams: the sum over dimensions of the exact
    1-Wasserstein distance of their finite parts (essential classes left out, as in
    totalPersistence)."""
    return float(sum(tda_core.wasserstein(_finite(a), _finite(b), p=1.0, delta=0.0)
                     for a, b in zip(previous, current, strict=True)))


def features_of(diagrams: Diagrams, computation: Computation) -> dict[str, Any]:
    wanted = set(computation.features)
    out: dict[str, Any] = {}
    if "totalPersistence" in wanted:
        out["totalPersistence"] = [tda_core.total_persistence(d) if len(d) else 0.0 for d in diagrams]
    if "entropy" in wanted:
        out["entropy"] = [tda_core.persistent_entropy(d) if len(d) else 0.0 for d in diagrams]
    if "bettiNumbers" in wanted:
        out["bettiNumbers"] = [betti_at(d, computation.threshold) for d in diagrams]
    if "topPairs" in wanted:
        out["topPairs"] = [top_pairs(d, computation.top_pairs) for d in diagrams]
    return out


def record_of(spec: JobSpec, key: str, window_start: int, window_end: int, count: int,
              diagrams: Diagrams, previous: Diagrams | None) -> dict[str, Any]:
    """The output record (contract tda.io/window-features/v1) of a window's diagrams."""
    record: dict[str, Any] = {
        "schema": OUTPUT_SCHEMA,
        "stream": spec.stream,
        "key": key,
        "windowStart": window_start,
        "windowEnd": window_end,
        "count": count,
        **features_of(diagrams, spec.computation),
    }
    if "changeScore" in spec.computation.features:
        record["changeScore"] = None if previous is None else change_score(previous, diagrams)
    return record


def window_record(
    spec: JobSpec,
    key: str,
    window_start: int,
    window_end: int,
    values: np.ndarray,
    previous: Diagrams | None,
) -> tuple[dict[str, Any], Diagrams]:
    """The output record of a window's values and its diagrams, which the next window of
    the key compares against."""
    diagrams = diagrams_of(points_of(values, spec.embedding), spec.computation)
    return record_of(spec, key, window_start, window_end, int(values.shape[0]), diagrams, previous), diagrams


def encode_diagrams(diagrams: Diagrams) -> list[list[list[float | None]]]:
    """Diagrams as JSON-ready lists (death None for an essential class)."""
    return [[[b, None if np.isinf(d) else d] for b, d in diagram.tolist()] for diagram in diagrams]


def decode_diagrams(stored: Sequence[Sequence[Sequence[float | None]]]) -> Diagrams:
    return [np.array([[b, np.inf if d is None else d] for b, d in diagram], dtype=np.float64).reshape(-1, 2)
            for diagram in stored]
