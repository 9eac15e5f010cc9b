"""Persistent homology of images and volumes (cubical complexes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from . import _core, _validate

__all__ = ["cubical_persistence", "CubicalPersistence"]

_CONSTRUCTIONS = ("V", "T")
_MAX_DIM = 16
_MAX_CELLS = 2**64 - 1  # cells are indexed by 64-bit integers (32-bit below 2**32 - 1 cells)


class CubicalPersistence(NamedTuple):
    """Diagrams with where their values come from (``cubical_persistence(...,
    locations=True)``), both indexed by dimension, rows parallel."""

    diagrams: list[np.ndarray]
    #: int64 ``(k, 2)``: the flat (C-order) index into the array of an entry whose value
    #: is the birth, and of one whose value is the death (``-1`` for an essential class):
    #: V, a vertex of the birth / death cell; T, a top cube containing it (GUDHI's
    #: ``vertices_of_persistence_pairs`` / ``cofaces_of_persistence_pairs``). Coordinates:
    #: ``np.unravel_index(locations[d], array.shape)``.
    locations: list[np.ndarray]


def cubical_persistence(
    array: np.ndarray,
    max_dim: int | None = None,
    construction: str = "V",
    n_threads: int = 1,
    coeff: int = 2,
    periodic: bool | Sequence[bool] = False,
    locations: bool = False,
) -> list[np.ndarray] | CubicalPersistence:
    """Persistence diagrams of the sublevel-set filtration of a 1-D to 4-D array
    (a signal, an image, a volume, a 4-D field).

    Parameters
    ----------
    array:
        Real values on a grid (image, volume, 4-D field); converted to float64. No NaN;
        +-inf allowed. Working memory is about 8 bytes per cell of the complex (8 * 2**ndim
        bytes per array entry) up to 2**32 - 2 cells (about 32768**2 pixels or 800**3
        voxels), 16 bytes per cell beyond (64-bit cell indices).
    max_dim:
        Largest homology dimension returned; defaults to the largest one that can be
        non-trivial: ``array.ndim - 1``, or ``array.ndim`` when every axis is periodic
        (a torus has a top-dimensional class). Dimensions above come back empty.
    construction:
        ``"V"``: entries are the vertices of the cubical complex and every cube takes
        the maximum of its vertices (lower-star filtration, 4-/6-connectivity in
        dimension 0; the values cripser computes). ``"T"``: entries are the top cubes
        and every face takes the minimum of the cubes containing it (8-/26-connectivity;
        GUDHI's ``CubicalComplex(top_dimensional_cells=...)``).
    n_threads:
        With 2 or more, dimension 0 (union-find) runs on its own thread next to the
        higher dimensions; the engine uses at most 2 threads.
    coeff:
        Prime p of the coefficient field Z/p (GUDHI's default is 11). Results can differ
        from Z/2 only from 3-D arrays on (a loop winding twice around a tunnel is zero in
        Z/2 homology of the tunnel, not in Z/3).
    periodic:
        One bool per axis of ``array`` (or one for all): along a periodic axis the last
        entry is adjacent to the first, as in GUDHI's ``PeriodicCubicalComplex(...,
        periodic_dimensions=periodic)`` (with ``top_dimensional_cells`` for ``"T"``,
        ``vertices`` for ``"V"``). With m periodic axes the whole complex is an
        m-torus (times a box), whose C(m, k) classes of dimension k never die. A
        periodic axis of length 1 or 2 is allowed, as in GUDHI (one entry: a cell glued
        to itself, a loop).

    locations:
        Also return, per pair, the array entries its birth and death values come from
        (a :class:`CubicalPersistence`).

    Returns
    -------
    list of ``max_dim + 1`` float64 arrays of shape (n, 2) with (birth, death) rows,
    dimension 0 first; essential classes have death ``inf`` (without periodic axes,
    only the one of dimension 0). Pairs with death == birth are omitted.
    """
    if not isinstance(construction, str) or construction not in _CONSTRUCTIONS:
        raise ValueError(f"construction: must be 'V' or 'T', got {construction!r}")
    try:
        values = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"array: must be a numeric array ({exc})") from None
    if values.ndim < 1 or values.ndim > 4:
        raise ValueError(f"array: must be 1-D to 4-D, got {values.ndim}-D")
    if values.size == 0:
        raise ValueError(f"array: must not be empty, got shape {values.shape}")
    wraps = _periodic_axes(periodic, values.ndim)
    cells = 1
    for n, p in zip(values.shape, wraps, strict=True):
        cells *= 2 * n if p else 2 * n - 1 if construction == "V" else 2 * n + 1
    if cells >= _MAX_CELLS:
        raise ValueError(
            f"array: shape {values.shape} gives {cells} cubical cells, more than the engine's {_MAX_CELLS - 1}"
        )
    if np.isnan(values).any():
        raise ValueError("array: contains NaN; replace or mask missing values first")
    values = np.ascontiguousarray(values)
    if max_dim is None:
        max_dim = values.ndim if all(wraps) else values.ndim - 1
    if isinstance(max_dim, bool) or not isinstance(max_dim, int | np.integer) or not 0 <= max_dim <= _MAX_DIM:
        raise ValueError(f"max_dim: must be an integer from 0 to {_MAX_DIM} (homology above the array's "
                         f"dimension is empty), got {max_dim!r}")
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1:
        raise ValueError(f"n_threads: must be a positive integer, got {n_threads!r}")
    if isinstance(coeff, bool) or not isinstance(coeff, int | np.integer) or not _validate.is_prime(int(coeff)) \
            or coeff >= 2**31:
        raise ValueError(f"coeff: must be a prime below 2**31 (the field Z/p), got {coeff!r}")
    locations = _validate.flag(locations, "locations")
    # The engine uses at most 2 threads; any larger request means "as many as it can".
    result = _core.cubical_persistence(values, int(max_dim), construction, min(int(n_threads), 2), int(coeff),
                                       list(wraps), locations)
    return CubicalPersistence(*result) if locations else result


def _periodic_axes(periodic: object, ndim: int) -> tuple[bool, ...]:
    """One flag per axis; the error never repeats the value (it may be a large array)."""
    usage = (f"periodic: must be one bool for all axes or a sequence of {ndim} bools, one per axis of the "
             f"{ndim}-D array")
    if isinstance(periodic, bool | np.bool_):
        return (bool(periodic),) * ndim
    if isinstance(periodic, str | bytes) or not isinstance(periodic, Sequence | np.ndarray):
        raise ValueError(usage)
    flags = list(periodic)
    if len(flags) != ndim or not all(isinstance(f, bool | np.bool_) for f in flags):
        raise ValueError(usage)
    return tuple(bool(f) for f in flags)
