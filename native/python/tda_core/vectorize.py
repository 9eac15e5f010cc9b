"""Vectorizations of a persistence diagram: curves, landscapes, images and summary numbers.

Conventions (one diagram = an (n, 2) array of (birth, death); one homology dimension):

* ``betti_curve``: beta(t) = #{(b, d) : b <= t < d} sampled at ``n_bins`` equally spaced
  values (giotto-tda's ``BettiCurve``); essential classes (death ``inf``) count as alive.
* ``persistence_landscape``: Bubenik's landscape, layer k = k-th largest of
  ``max(0, min(t - b, d - t))``, exact at each sample (GUDHI's ``Landscape`` / sqrt(2));
  finite pairs only.
* ``persistence_image``: Adams et al. 2017; in (birth, persistence) coordinates each
  pair is a weighted isotropic Gaussian, integrated exactly over every pixel
  (persim's ``PersistenceImager`` with ``kernel_params={"sigma": bandwidth**2 * I}``).
* ``persistent_entropy``: Shannon entropy of the lifetimes ``l_i / sum l`` (persim).
* ``total_persistence``: ``sum (d - b)**p`` over finite pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _validate

__all__ = [
    "betti_curve",
    "persistence_image",
    "persistence_landscape",
    "persistent_entropy",
    "total_persistence",
]

Weight = str | Callable[[np.ndarray, np.ndarray], np.ndarray]


def _finite(dgm: np.ndarray) -> np.ndarray:
    return dgm[np.isfinite(dgm).all(axis=1)]


def _interval(given: object, name: str, strict: bool = False) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in given)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a pair (low, high), got {given!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and (lo < hi if strict else lo <= hi)):
        raise ValueError(f"{name}: must be finite with low {'<' if strict else '<='} high, got {given!r}")
    return lo, hi


def _sample_range(values: np.ndarray, sample_range: object) -> tuple[float, float]:
    if sample_range is not None:
        return _interval(sample_range, "sample_range")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def betti_curve(
    diagram: np.ndarray, n_bins: int = 100, sample_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Betti numbers at ``np.linspace(*sample_range, n_bins)`` (default range: the
    smallest to the largest finite birth/death). Returns float64 of shape (n_bins,)."""
    dgm = _validate.diagram(diagram, "diagram")
    bins = _validate.integer(n_bins, "n_bins", 1)
    _validate.output_size((bins,), "n_bins")
    lo, hi = _sample_range(dgm, sample_range)
    t = np.linspace(lo, hi, bins)
    if dgm.shape[0] == 0:
        return np.zeros(bins)
    # births and deaths sorted once: beta(t) = #{b <= t} - #{d <= t}
    born = np.searchsorted(np.sort(dgm[:, 0]), t, side="right")
    dead = np.searchsorted(np.sort(dgm[:, 1]), t, side="right")
    return (born - dead).astype(np.float64)


def persistence_landscape(
    diagram: np.ndarray,
    n_layers: int = 5,
    n_bins: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """The first ``n_layers`` landscape functions at ``np.linspace(*sample_range, n_bins)``
    (default range: smallest finite birth to largest finite death). Pairs with an infinite
    coordinate are left out. Returns float64 of shape (n_layers, n_bins)."""
    dgm = _finite(_validate.diagram(diagram, "diagram"))
    layers = _validate.integer(n_layers, "n_layers", 1)
    bins = _validate.integer(n_bins, "n_bins", 1)
    _validate.output_size((layers, bins), "n_layers * n_bins")
    lo, hi = _sample_range(dgm, sample_range)
    out = np.zeros((layers, bins))
    if dgm.shape[0] == 0:
        return out
    t = np.linspace(lo, hi, bins)
    tents = np.maximum(np.minimum(t[None, :] - dgm[:, :1], dgm[:, 1:] - t[None, :]), 0.0)
    k = min(layers, tents.shape[0])
    if k < tents.shape[0]:
        tents = -np.partition(-tents, k - 1, axis=0)[:k]
    out[:k] = -np.sort(-tents, axis=0)[:k]
    return out


def _weights(weight: Weight, birth: np.ndarray, pers: np.ndarray, pers_max: float) -> np.ndarray:
    if callable(weight):
        w = np.asarray(weight(birth, pers), dtype=np.float64)
        if w.shape != birth.shape:
            raise ValueError(f"weight: the callable must return one weight per pair, got shape {w.shape}")
        return w
    if weight == "persistence":
        return pers.copy()
    if weight == "linear":
        return np.clip(pers / pers_max, 0.0, 1.0) if pers_max > 0 else np.ones_like(pers)
    if weight == "uniform":
        return np.ones_like(pers)
    raise ValueError(
        f"weight: must be 'persistence', 'linear', 'uniform' or a callable(birth, persistence), got {weight!r}"
    )


def persistence_image(
    diagram: np.ndarray,
    resolution: tuple[int, int] | int = (20, 20),
    bandwidth: float | None = None,
    weight: Weight = "persistence",
    birth_range: tuple[float, float] | None = None,
    persistence_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Persistence image of the finite pairs, shape ``resolution`` = (birth pixels,
    persistence pixels); entry [i, j] integrates the surface over the pixel
    ``[birth edge i, i+1] x [persistence edge j, j+1]``.

    ``bandwidth``: standard deviation of the Gaussians (default: a tenth of the largest
    persistence, or 1 for an empty diagram). ``weight``: ``"persistence"`` (w = d - b,
    the default), ``"linear"`` (Adams et al.'s ramp ``min(1, (d - b) / p_max)`` with
    p_max the top of the persistence range), ``"uniform"``, or a callable
    ``f(birth, persistence) -> weights``. Ranges default to the diagram's birth span and
    ``[0, largest persistence]``, padded by one bandwidth when degenerate.
    """
    dgm = _finite(_validate.diagram(diagram, "diagram"))
    sizes: object = resolution
    if isinstance(resolution, int | np.integer) and not isinstance(resolution, bool):
        sizes = (resolution, resolution)
    if not isinstance(sizes, tuple | list) or len(sizes) != 2:
        raise ValueError(f"resolution: must be an int or a pair of ints, got {resolution!r}")
    nb, npers = (_validate.integer(r, "resolution", 1) for r in sizes)
    _validate.output_size((nb, npers), "resolution")
    birth = dgm[:, 0]
    pers = dgm[:, 1] - dgm[:, 0]
    top = float(pers.max()) if pers.size else 0.0
    sigma = (top / 10 if top > 0 else 1.0) if bandwidth is None else _validate.real(
        bandwidth, "bandwidth", minimum=0.0, strict=True
    )

    def span(given: object, default: tuple[float, float], name: str) -> tuple[float, float]:
        if given is not None:
            return _interval(given, name, strict=True)
        lo, hi = default
        return (lo - sigma, hi + sigma) if lo == hi else (lo, hi)

    b_lo, b_hi = span(birth_range, (float(birth.min()), float(birth.max())) if birth.size else (0.0, 0.0),
                      "birth_range")
    p_lo, p_hi = span(persistence_range, (0.0, top), "persistence_range")
    image = np.zeros((nb, npers))
    if dgm.shape[0] == 0:
        return image
    from scipy.special import ndtr  # the standard normal CDF; scipy is heavy, import on first use

    w = _weights(weight, birth, pers, p_hi)
    b_edges = np.linspace(b_lo, b_hi, nb + 1)
    p_edges = np.linspace(p_lo, p_hi, npers + 1)
    # Gaussian mass of each pixel: a product of one-dimensional CDF differences.
    mass_b = np.diff(ndtr((b_edges[None, :] - birth[:, None]) / sigma), axis=1)
    mass_p = np.diff(ndtr((p_edges[None, :] - pers[:, None]) / sigma), axis=1)
    return (mass_b * w[:, None]).T @ mass_p


def persistent_entropy(diagram: np.ndarray, normalize: bool = False) -> float:
    """Shannon entropy ``-sum p_i log p_i`` of the relative lifetimes ``p_i = l_i / sum l``
    of the finite pairs with positive lifetime (0.0 if there are none). ``normalize``
    divides by ``log(n)`` (0.0 for a single pair)."""
    dgm = _finite(_validate.diagram(diagram, "diagram"))
    life = dgm[:, 1] - dgm[:, 0]
    life = life[life > 0]
    if life.size == 0:
        return 0.0
    prob = life / life.sum()
    entropy = float(-(prob * np.log(prob)).sum())
    if normalize:
        return entropy / float(np.log(life.size)) if life.size > 1 else 0.0
    return entropy


def total_persistence(diagram: np.ndarray, p: float = 1.0) -> float:
    """``sum (d - b)**p`` over the finite pairs (p > 0)."""
    dgm = _finite(_validate.diagram(diagram, "diagram"))
    order = _validate.real(p, "p", minimum=0.0, strict=True)
    return float((np.abs(dgm[:, 1] - dgm[:, 0]) ** order).sum())
