"""Bottleneck and Wasserstein distances between persistence diagrams (L-infinity ground metric)."""

from __future__ import annotations

import numpy as np

from . import _core, _validate

__all__ = ["bottleneck", "wasserstein"]


def bottleneck(d1: np.ndarray, d2: np.ndarray, delta: float = 0.0) -> float:
    """Bottleneck distance between two persistence diagrams.

    ``d1``, ``d2``: (n, 2) arrays of (birth, death). The ground metric is L-infinity and
    a point (b, d) is |d - b| / 2 away from the diagonal. Points with an infinite
    coordinate are matched only with points of the same kind (e.g. (b, inf) with
    (b', inf), by |b - b'|); a different number of them gives ``inf``. Points on the
    diagonal are ignored. ``delta == 0`` (default) gives the exact value; ``delta > 0``
    a value within a factor ``1 + delta`` above it, faster. Same definition as
    GUDHI's ``bottleneck_distance`` and Hera.
    """
    a = _validate.diagram(d1, "d1")
    b = _validate.diagram(d2, "d2")
    return float(_core.bottleneck(a, b, _validate.real(delta, "delta", minimum=0.0)))


def wasserstein(
    d1: np.ndarray, d2: np.ndarray, p: float = 1.0, delta: float = 0.01, matching: bool = False
) -> float | tuple[float, np.ndarray]:
    """p-Wasserstein distance between two persistence diagrams, L-infinity ground metric.

    ``(min over matchings of sum of cost^p)^(1/p)``, where a matched pair costs its
    L-infinity distance and a point sent to the diagonal costs |d - b| / 2. Points with
    an infinite coordinate are matched among their own kind along the finite
    coordinate; different counts give ``inf``. ``p >= 1``. With ``delta == 0`` or small
    diagrams (at most 256 points together) the value is exact (Hungarian method, cubic
    time: keep ``delta == 0`` for diagrams of a few thousand points at most); otherwise
    an auction algorithm returns a value in ``[W, (1 + delta) W]`` (Hera's guarantee,
    same default ``delta=0.01``), in milliseconds for thousands of points.

    ``matching=True`` returns ``(distance, pairs)`` as GUDHI does: the exact distance
    (Hungarian method whatever ``delta``) and an optimal matching, an int64 array of
    shape (k, 2) of (index in d1, index in d2) rows with -1 for the diagonal; every point
    of both diagrams appears in exactly one row. When the distance is ``inf`` (different
    numbers of points of one infinite kind) ``pairs`` is empty.
    """
    a = _validate.diagram(d1, "d1")
    b = _validate.diagram(d2, "d2")
    order = _validate.real(p, "p", minimum=1.0)
    tolerance = _validate.real(delta, "delta", minimum=0.0)
    if not isinstance(matching, bool | np.bool_):
        raise ValueError(f"matching: must be a bool, got {matching!r}")
    if matching:
        value, pairs = _core.wasserstein_matching(a, b, order)
        return float(value), pairs
    return float(_core.wasserstein(a, b, order, tolerance))
