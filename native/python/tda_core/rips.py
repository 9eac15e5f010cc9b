"""Vietoris–Rips persistent homology (C++ core).

Diagrams agree with ripser.py for the same arguments: filtration values are
single precision (as in ripser.py), pairs with zero persistence are omitted,
essential classes die at ``inf``. Distances of point clouds are computed in
double precision in C++ and rounded once to float32; ripser.py computes them
with scikit-learn, whose Euclidean formula can differ in the last bits, so
point-cloud diagrams agree up to float32 rounding (relative ~1e-6).
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._validate import flag, is_prime

__all__ = ["rips_persistence", "RipsPersistence", "estimate_rips", "greedy_permutation", "METRICS"]

METRICS = ("euclidean", "manhattan", "chebyshev", "cosine")
_METRIC_ALIASES = {"cityblock": "manhattan", "l1": "manhattan", "precomputed": "precomputed"}


#: Integer arguments cross into C++ as 32-bit integers; the core states tighter limits where it has them.
_MAX_INT_ARGUMENT = 2**31 - 1


def _check_int(name: str, value: Any, minimum: int, maximum: int = _MAX_INT_ARGUMENT) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return int(value)


def _check_threshold(threshold: Any) -> float:
    if threshold is None:
        return math.inf
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number or None, got {threshold!r}")
    value = float(threshold)
    if math.isnan(value) or value < 0:
        raise ValueError(f"threshold must be >= 0 (or None for no threshold), got {threshold!r}")
    return value


def _check_coeff(coeff: Any) -> int:
    if isinstance(coeff, bool) or not isinstance(coeff, numbers.Integral):
        raise ValueError(f"coeff must be a prime integer, got {coeff!r}")
    p = int(coeff)
    if p > 2**31 - 1:
        raise ValueError(f"coeff must be a prime below 2**31, got {p}")
    if not is_prime(p):
        raise ValueError(f"coeff must be a prime (the field Z/p), got {p}")
    return p


def _check_metric(metric: Any) -> str:
    if not isinstance(metric, str):
        raise ValueError(f"metric must be a string, one of {METRICS + ('precomputed',)}, got {metric!r}")
    name = _METRIC_ALIASES.get(metric.lower(), metric.lower())
    if name not in METRICS and name != "precomputed":
        raise ValueError(f"metric must be one of {METRICS + ('precomputed',)}, got {metric!r}")
    return name


def _as_real_array(X: Any, name: str = "X") -> np.ndarray:
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must have a real numeric dtype (integer or float), got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (points x coordinates, or a square matrix), got {arr.ndim}-D"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _sparse_module() -> Any:
    # A scipy.sparse matrix can only exist if scipy.sparse was imported; not
    # importing it ourselves saves ~15 MB of resident memory per process.
    return sys.modules.get("scipy.sparse")


def _prepare_sparse(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    # The entries are read as a symmetric matrix by the core: (i, j) and (j, i) are
    # one edge, and an edge stored several times takes its smallest value (duplicates
    # are alternatives, never summed). A COO matrix built without an explicit shape
    # gets max row + 1 by max column + 1 from scipy, which need not be square: the
    # number of points is the larger side, as in giotto-ph.
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D sparse distance matrix, got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must not be empty, got shape {X.shape}")
    if X.dtype == bool or not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise ValueError(f"X must have a real numeric dtype, got {X.dtype}")
    coo = X.tocoo()
    values = np.ascontiguousarray(coo.data, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("X must not contain NaN distances")
    rows = np.ascontiguousarray(coo.row, dtype=np.int64)
    cols = np.ascontiguousarray(coo.col, dtype=np.int64)
    return rows, cols, values, int(max(X.shape))


def _check_dense_matrix(D: np.ndarray) -> None:
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"X must be a square distance matrix when distance_matrix=True, got shape {D.shape}")
    if np.isnan(D).any():
        raise ValueError("X must not contain NaN distances")
    if not np.array_equal(D, D.T):
        raise ValueError("X must be a symmetric distance matrix (X == X.T)")


def _distances_from(arr: np.ndarray, i: int, metric: str, norms: np.ndarray | None) -> np.ndarray:
    """Distances from point i to every point, in double precision (the core's metrics)."""
    diff = arr - arr[i]
    if metric == "euclidean":
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=1)
    if metric == "chebyshev":
        return np.abs(diff).max(axis=1)
    assert norms is not None  # cosine: 1 - cos(angle); a zero vector has similarity 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = (arr @ arr[i]) / (norms * norms[i])
    return np.where((norms == 0) | (norms[i] == 0), 1.0, np.clip(1.0 - cos, 0.0, 2.0))


def greedy_permutation(
    X: Any, n_perm: int, metric: str = "euclidean", distance_matrix: bool = False
) -> tuple[np.ndarray, float]:
    """Farthest-point (greedy) subsample of ``n_perm`` points, as ripser.py's ``n_perm``.

    Starts from point 0 and repeatedly adds the point farthest from those chosen (the
    first such point on ties). Returns ``(indices, covering_radius)``: the chosen
    indices in insertion order (int64, shape ``(n_perm,)``) and the largest distance of
    any point to its nearest chosen point, so every point of X lies within
    ``covering_radius`` of the subsample (whose Rips diagrams are then within that
    bottleneck distance, up to a factor 2, of X's). ``X`` is a point cloud or, with
    ``distance_matrix=True`` (or ``metric="precomputed"``), a dense square distance matrix.
    Cost: ``n_perm`` passes over the points (O(n * n_perm * d)).
    """
    metric = _check_metric(metric)
    if not isinstance(distance_matrix, bool | np.bool_):
        raise ValueError(f"distance_matrix must be a bool, got {distance_matrix!r}")
    precomputed = bool(distance_matrix) or metric == "precomputed"
    sparse = _sparse_module()
    if sparse is not None and sparse.issparse(X):
        raise ValueError("X: greedy permutation needs a dense distance matrix or a point cloud, not a sparse matrix")
    arr = _as_real_array(X)
    n = arr.shape[0]
    if isinstance(n_perm, bool) or not isinstance(n_perm, numbers.Integral) or not 1 <= n_perm <= n:
        raise ValueError(f"n_perm must be an integer from 1 to the number of points ({n}), got {n_perm!r}")
    if precomputed:
        _check_dense_matrix(arr)
    elif not np.isfinite(arr).all():
        raise ValueError("X must contain only finite coordinates (found NaN or inf)")
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr)) if metric == "cosine" and not precomputed else None

    def row(i: int) -> np.ndarray:
        return arr[i] if precomputed else _distances_from(arr, i, metric, norms)

    indices = np.zeros(int(n_perm), dtype=np.int64)
    nearest = row(0).copy()  # distance of every point to the chosen set
    for k in range(1, int(n_perm)):
        indices[k] = int(np.argmax(nearest))
        np.minimum(nearest, row(int(indices[k])), out=nearest)
    return indices, float(nearest.max())


class RipsPersistence(NamedTuple):
    """Diagrams with what their pairs come from (``rips_persistence(..., generators=True)``
    or ``cocycles=True``); a field not asked for is None. Every list is indexed by
    dimension and its rows are parallel to the rows of ``diagrams[d]``."""

    diagrams: list[np.ndarray]
    #: int64, the vertices of the edge that gave each simplex its diameter. Dimension 0:
    #: ``(k, 3)``, ``[birth vertex, death edge u, v]``; dimension d >= 1: ``(k, 4)``,
    #: ``[birth edge u, v, death edge u, v]``; ``-1`` for an essential class's death.
    generators: list[np.ndarray] | None
    #: Dimension d >= 1: one int64 array ``(m, d + 2)`` per pair, a representative
    #: cocycle as rows of d + 1 vertices (descending) and a coefficient in (-p/2, p/2].
    #: Dimension 0: an empty list.
    cocycles: list[list[np.ndarray]] | None


def _relabel(result: RipsPersistence, indices: np.ndarray) -> RipsPersistence:
    """Vertex numbers of a subsample's result as indices of the whole input."""
    def vertices(a: np.ndarray) -> np.ndarray:
        return np.where(a >= 0, indices[np.maximum(a, 0)], -1)

    generators = None if result.generators is None else [vertices(g) for g in result.generators]
    cocycles = None if result.cocycles is None else [
        [np.column_stack([vertices(c[:, :-1]), c[:, -1]]) for c in per_dim] for per_dim in result.cocycles]
    return RipsPersistence(result.diagrams, generators, cocycles)


def rips_persistence(
    X: Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
    n_perm: int | None = None,
    generators: bool = False,
    cocycles: bool = False,
    collapse_edges: bool = False,
) -> list[np.ndarray] | RipsPersistence:
    """Persistence diagrams of the Vietoris–Rips filtration.

    Parameters
    ----------
    X: point cloud (n x d), or with ``distance_matrix=True`` a square distance
        matrix: dense (symmetric), or scipy.sparse where absent entries are +inf,
        the diagonal gives vertex birth times, (i, j) and (j, i) are the same edge
        and an edge stored more than once (in either triangle) takes the smallest
        of its values. A sparse matrix of non-square shape (scipy infers max row + 1
        by max column + 1) has ``max(shape)`` points.
    max_dim: largest homological dimension computed.
    threshold: largest diameter of a simplex; ``None`` keeps every simplex
        (the enclosing radius is used internally, which changes nothing).
    coeff: prime p of the coefficient field Z/p.
    metric: "euclidean", "manhattan", "chebyshev", "cosine", or "precomputed"
        (same as ``distance_matrix=True``).
    n_threads: worker threads (results do not depend on it).
    n_perm: compute on the greedy (farthest-point) subsample of this many points, as
        ripser.py's ``n_perm``; ``greedy_permutation(X, n_perm, ...)`` gives the chosen
        indices and the covering radius. Dense input only.

    generators: also return, for every pair, the edges that gave its birth and death
        simplices their diameters (giotto-ph's ``return_generators``, parallel to the
        diagram rows).
    cocycles: also return a representative cocycle of every pair of dimension >= 1
        (ripser.py's ``do_cocycles``). A cocycle is one valid representative: with
        ``n_threads > 1`` it may differ from the one-thread result by a coboundary.
    collapse_edges: first remove the edges a vertex dominates at every scale from their
        own value on (Boissonnat & Pritam's edge collapse, giotto-ph's
        ``collapse_edges``): the same diagrams from a smaller complex, often much faster
        from dimension 2 on. Not with ``cocycles`` (they would be cocycles of the
        collapsed complex).

    Returns a list of ``max_dim + 1`` float64 arrays of shape (k, 2) with
    (birth, death) rows, dimension 0 first; ``death == inf`` for essential classes.
    With ``generators`` or ``cocycles``, a :class:`RipsPersistence` holding them too.
    With ``n_perm``, vertex numbers are indices of ``X``.
    """
    max_dim = _check_int("max_dim", max_dim, 0, _core._RIPS_MAX_DIM)
    n_threads = _check_int("n_threads", n_threads, 1)
    thresh = _check_threshold(threshold)
    coeff = _check_coeff(coeff)
    metric = _check_metric(metric)
    if not isinstance(distance_matrix, bool | np.bool_):
        raise ValueError(f"distance_matrix must be a bool, got {distance_matrix!r}")
    precomputed = bool(distance_matrix) or metric == "precomputed"
    wanted = {"generators": flag(generators, "generators"), "cocycles": flag(cocycles, "cocycles"),
              "collapse_edges": flag(collapse_edges, "collapse_edges")}
    if wanted["cocycles"] and wanted["collapse_edges"]:
        raise ValueError("cocycles: not available with collapse_edges=True (they would be the collapsed "
                         "complex's); pass collapse_edges=False")

    if n_perm is not None:
        indices, _ = greedy_permutation(X, n_perm, metric=metric, distance_matrix=precomputed)
        arr = _as_real_array(X)
        sub = arr[np.ix_(indices, indices)] if precomputed else arr[indices]
        result = rips_persistence(sub, max_dim, threshold, coeff, metric, precomputed, n_threads, **wanted)
        return _relabel(result, indices) if isinstance(result, RipsPersistence) else result

    sparse = _sparse_module()
    if sparse is not None and sparse.issparse(X):
        if not precomputed:
            raise ValueError("X is a sparse matrix: pass distance_matrix=True (or metric='precomputed')")
        rows, cols, values, n = _prepare_sparse(X)
        return _result(_core._rips_sparse(rows, cols, values, n, max_dim, thresh, coeff, n_threads, **wanted))

    arr = _as_real_array(X)
    if precomputed:
        _check_dense_matrix(arr)
        return _result(_core._rips_dense(arr, max_dim, thresh, coeff, n_threads, **wanted))
    if not np.isfinite(arr).all():
        raise ValueError("X must contain only finite coordinates (found NaN or inf)")
    return _result(_core._rips_points(arr, metric, max_dim, thresh, coeff, n_threads, **wanted))


def _result(raw: Any) -> list[np.ndarray] | RipsPersistence:
    return RipsPersistence(*raw) if isinstance(raw, tuple) else raw


def estimate_rips(
    n_points_or_X: Any, max_dim: int, threshold: float | None = None, metric: str = "euclidean"
) -> dict[str, Any]:
    """Upper bounds on the size of a Rips computation, before running it.

    ``n_points_or_X`` is a number of points (every pair is then assumed to be an
    edge) or a point cloud, in which case the edges under ``threshold`` are
    counted and the Kruskal–Katona and degree bounds limit the cliques.

    Returns ``{"simplices": [per dimension 0..max_dim+1], "total_simplices",
    "edges", "bytes", "dense"}``; ``bytes`` bounds the core's working memory
    apart from the fill-in of its reduction matrix.
    """
    max_dim = _check_int("max_dim", max_dim, 0, _core._RIPS_MAX_DIM)
    thresh = _check_threshold(threshold)
    metric = _check_metric(metric)
    if isinstance(n_points_or_X, numbers.Integral) and not isinstance(n_points_or_X, bool):
        n = _check_int("n_points_or_X", n_points_or_X, 1, 2**63 - 1)
        result = dict(_core._estimate_rips_complete(n, max_dim))
    else:
        arr = _as_real_array(n_points_or_X, "n_points_or_X")
        if not np.isfinite(arr).all():
            raise ValueError("n_points_or_X must contain only finite coordinates")
        if math.isinf(thresh) or metric == "precomputed":
            result = dict(_core._estimate_rips_complete(arr.shape[0], max_dim))
        else:
            degrees = _core._rips_degrees(arr, metric, thresh)
            result = dict(_core._estimate_rips_degrees(degrees, max_dim))
    result["total_simplices"] = float(sum(result["simplices"]))
    return result
