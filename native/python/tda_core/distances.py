"""Bottleneck and Wasserstein distances between persistence diagrams, with optimal matchings."""

from __future__ import annotations

import math

import numpy as np

from . import _core, _validate

__all__ = ["bottleneck", "wasserstein"]


def bottleneck(
    d1: np.ndarray, d2: np.ndarray, delta: float = 0.0, matching: bool = False
) -> float | tuple[float, np.ndarray]:
    """Bottleneck distance between two persistence diagrams.

    ``d1``, ``d2``: (n, 2) arrays of (birth, death). The ground metric is L-infinity and
    a point (b, d) is |d - b| / 2 away from the diagonal. Points with an infinite
    coordinate are matched only with points of the same kind (e.g. (b, inf) with
    (b', inf), by |b - b'|); a different number of them gives ``inf``. Points on the
    diagonal are ignored. ``delta == 0`` (default) gives the exact value; ``delta > 0``
    a value within a factor ``1 + delta`` above it, faster. Same definition as
    GUDHI's ``bottleneck_distance`` and Hera.

    ``matching=True`` returns ``(distance, pairs)``: the exact distance (whatever
    ``delta``) and a bottleneck-optimal matching, whose largest cost is the distance,
    in ``wasserstein``'s encoding: an int64 array of shape (k, 2) of (index in d1,
    index in d2) rows with -1 for the diagonal; every point of both diagrams appears in
    exactly one row. When the distance is ``inf``, ``pairs`` is empty.
    """
    a = _validate.diagram(d1, "d1")
    b = _validate.diagram(d2, "d2")
    tolerance = _validate.real(delta, "delta", minimum=0.0)
    if _validate.flag(matching, "matching"):
        value, pairs = _core.bottleneck_matching(a, b)
        return float(value), pairs
    return float(_core.bottleneck(a, b, tolerance))


def wasserstein(
    d1: np.ndarray,
    d2: np.ndarray,
    p: float = 1.0,
    delta: float = 0.01,
    matching: bool = False,
    internal_p: float = math.inf,
) -> float | tuple[float, np.ndarray]:
    """p-Wasserstein distance between two persistence diagrams, L_q ground metric.

    ``(min over matchings of sum of cost^p)^(1/p)``, where a matched pair costs the L_q
    distance between its points, q = ``internal_p`` in [1, inf] (default inf:
    L-infinity), and a point sent to the diagonal costs the L_q distance to its
    orthogonal projection, |d - b| / 2 * 2^(1/q) (|d - b| / 2 for q = inf). Same
    definition as GUDHI's ``wasserstein_distance(X, Y, order=p, internal_p=q)`` and
    Hera. Points with an infinite coordinate are matched among their own kind along the
    finite coordinate; different counts give ``inf``. ``p >= 1``. With ``delta == 0`` or
    small diagrams (at most 256 points together) the value is exact (Hungarian method,
    cubic time: keep ``delta == 0`` for diagrams of a few thousand points at most);
    otherwise an auction algorithm returns a value in ``[W, (1 + delta) W]`` (Hera's
    guarantee, same default ``delta=0.01``), in milliseconds for thousands of points.

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
    q = _validate.norm_exponent(internal_p, "internal_p")
    if _validate.flag(matching, "matching"):
        value, pairs = _core.wasserstein_matching(a, b, order, q)
        return float(value), pairs
    return float(_core.wasserstein(a, b, order, tolerance, q))
